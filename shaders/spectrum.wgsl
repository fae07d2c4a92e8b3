// Frequency bands of the current frame as bars (straight up, mirrored about a centre line, or
// radial around the centre of the frame). The whole track's band table is one storage buffer;
// per frame only `frame` and the bound parameters change. Output is premultiplied RGBA.

//#include "common.wgsl"

struct Uniforms {
    color: vec4<f32>,
    color_top: vec4<f32>,
    viewport: vec2<f32>,
    frame: u32,
    n_bands: u32,
    bars: u32,
    style: u32,      // 0 bars, 1 mirrored, 2 radial
    height: f32,
    base_y: f32,
    gap: f32,
    gain: f32,
    radius: f32,
    _pad: f32,
};

@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> bands: array<f32>;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

fn level(bar: u32) -> f32 {
    let band = min(bar * u.n_bands / u.bars, u.n_bands - 1u);
    return clamp(bands[u.frame * u.n_bands + band] * u.gain, 0.0, 1.0);
}

fn shade(t: f32) -> vec4<f32> {
    let c = mix(u.color, u.color_top, clamp(t, 0.0, 1.0));
    return vec4<f32>(c.rgb * c.a, c.a);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    // Pixel centre in 0..1 with y up.
    let uv = vec2<f32>(pos.x / u.viewport.x, 1.0 - pos.y / u.viewport.y);
    if (u.style == 2u) {
        let aspect = u.viewport.x / u.viewport.y;
        let p = vec2<f32>((uv.x - 0.5) * aspect, uv.y - 0.5);
        let r = length(p);
        let turn = fract(atan2(p.x, p.y) / 6.28318530718 + 1.0);
        let slot = turn * f32(u.bars);
        let bar = min(u32(slot), u.bars - 1u);
        if (fract(slot) < u.gap) {
            return vec4<f32>(0.0);
        }
        let extent = level(bar) * u.height;
        if (r < u.radius || r > u.radius + extent) {
            return vec4<f32>(0.0);
        }
        return shade((r - u.radius) / max(u.height, 1e-6));
    }
    let slot = uv.x * f32(u.bars);
    let bar = min(u32(slot), u.bars - 1u);
    if (fract(slot) < u.gap) {
        return vec4<f32>(0.0);
    }
    let extent = level(bar) * u.height;
    var d = uv.y - u.base_y;
    if (u.style == 1u) {
        d = abs(d);
    }
    if (d < 0.0 || d > extent) {
        return vec4<f32>(0.0);
    }
    return shade(d / max(u.height, 1e-6));
}
