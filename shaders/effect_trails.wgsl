// The trails effect: two accumulators of the fading, moving echo of the picture beneath, each
// forgetting its history at its own fixed frames, cross-faded into the output (see
// gpurender/render/effects/trails.py for why there are two). One pass writes both new
// accumulators and the output.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct TrailsParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: TrailsParams;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var prev_a: texture_2d<f32>;
@group(0) @binding(3) var prev_b: texture_2d<f32>;
@group(0) @binding(4) var linear_clamp: sampler;

struct Accumulated {
    @location(0) a: vec4<f32>,
    @location(1) b: vec4<f32>,
    @location(2) out: vec4<f32>,
};

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

// The previous frame's accumulator where this pixel's trail comes from; nothing from outside the frame.
fn history(prev: texture_2d<f32>, p: vec2<f32>) -> vec4<f32> {
    if (u.identity == 1u) {
        return textureLoad(prev, vec2<i32>(p), 0);
    }
    let size = vec2<f32>(textureDimensions(prev));
    let d = p - u.centre;
    let q = u.centre + vec2<f32>(dot(u.warp.xy, d), dot(u.warp.zw, d)) + u.shift;
    if (any(q < vec2<f32>(0.0)) || any(q > size)) {
        return vec4<f32>(0.0);
    }
    return textureSampleLevel(prev, linear_clamp, q / size, 0.0);
}

fn accumulate(now: vec4<f32>, trail: vec4<f32>) -> vec4<f32> {
    var c: vec4<f32>;
    if (u.mode == 1u) {
        c = now + trail;
    } else {
        c = max(now, trail);
    }
    return vec4<f32>(c.rgb, min(c.a, 1.0));
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> Accumulated {
    let now = textureLoad(source, vec2<i32>(pos.xy), 0);
    var r: Accumulated;
    // A restarted accumulator never reads its texture (which may hold anything), so its value
    // depends only on frames since the restart.
    if (u.restart_a == 1u) {
        r.a = accumulate(now, vec4<f32>(0.0));
    } else {
        r.a = accumulate(now, history(prev_a, pos.xy) * u.keep);
    }
    if (u.restart_b == 1u) {
        r.b = accumulate(now, vec4<f32>(0.0));
    } else {
        r.b = accumulate(now, history(prev_b, pos.xy) * u.keep);
    }
    // An accumulator without weight is left out, not multiplied by 0: its value may be stale.
    if (u.weight_a >= 1.0) {
        r.out = r.a;
    } else if (u.weight_a <= 0.0) {
        r.out = r.b;
    } else {
        r.out = r.a * u.weight_a + r.b * (1.0 - u.weight_a);
    }
    return r;
}
