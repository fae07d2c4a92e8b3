// The grain effect: noise added to the picture beneath, a pure function of (seed, frame, place):
// `key` is a hash of the seed and the frame (made by gpurender/render/effects/grain.py).
//
// Each grain cell (`cell` output pixels wide) draws a value from a hash of the seed, the frame and
// the cell; a pixel blends the four cells around it (smoothstep weights) and divides by the
// weights' root sum of squares, so the grain's standard deviation is the same everywhere, not
// larger at cell centres (which would show the grid). Cells of one pixel are plain per-pixel noise.
// The values are near-Gaussian (sum of four uniform bytes of a hash), strongest in mid-tones.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct GrainParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: GrainParams;
@group(0) @binding(1) var source: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

// PCG (Jarzynski and Olano, "Hash Functions for GPU Rendering", JCGT 2020).
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Near-Gaussian noise of zero mean and unit standard deviation from the four bytes of a hash (a sum
// of four uniforms).
fn gauss(h: u32) -> f32 {
    let s = f32(h & 255u) + f32((h >> 8u) & 255u) + f32((h >> 16u) & 255u) + f32(h >> 24u);
    return (s - 510.0) * (1.0 / 147.7996);  // 4 * (256^2 - 1) / 12 = 147.7996^2
}

// One cell's noise: x is shared by the three channels (monochrome grain), y, z, w are each
// channel's own (drawn only when the grain has colour).
fn cell_noise(cell: vec2<i32>) -> vec4<f32> {
    let h = pcg(bitcast<u32>(cell.x) + pcg(bitcast<u32>(cell.y) + u.key));
    if (u.chroma <= 0.0) {
        return vec4<f32>(gauss(h), 0.0, 0.0, 0.0);
    }
    let r = pcg(h);
    let g = pcg(r);
    return vec4<f32>(gauss(h), gauss(r), gauss(g), gauss(pcg(g)));
}

fn grain(p: vec2<f32>) -> vec4<f32> {
    if (u.cell <= 1.0) {
        return cell_noise(vec2<i32>(floor(p)));
    }
    let g = p / u.cell - vec2<f32>(0.5);
    let base = floor(g);
    let f = g - base;
    let w = f * f * (3.0 - 2.0 * f);
    let b = vec2<i32>(base);
    let n = mix(mix(cell_noise(b), cell_noise(b + vec2<i32>(1, 0)), w.x),
                mix(cell_noise(b + vec2<i32>(0, 1)), cell_noise(b + vec2<i32>(1, 1)), w.x), w.y);
    let wx = vec2<f32>(1.0 - w.x, w.x);
    let wy = vec2<f32>(1.0 - w.y, w.y);
    return n / sqrt(dot(wx, wx) * dot(wy, wy));
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let c = textureLoad(source, vec2<i32>(pos.xy), 0);
    if (c.a <= 0.0) {
        return c;
    }
    let n = grain(pos.xy);
    let mono = vec3<f32>(n.x);
    let own = n.yzw;
    let noise = mono * sqrt(1.0 - u.chroma) + own * sqrt(u.chroma);
    // Strongest in mid-tones: half as strong in deep shadows and bright highlights.
    let straight = clamp(c.rgb / c.a, vec3<f32>(0.0), vec3<f32>(1.0));
    let luma = dot(straight, vec3<f32>(0.2126, 0.7152, 0.0722));
    let response = 0.5 + 2.0 * luma * (1.0 - luma);
    let rgb = max(c.rgb + noise * (u.amount * response * c.a), vec3<f32>(0.0));
    return vec4<f32>(rgb, c.a);
}
