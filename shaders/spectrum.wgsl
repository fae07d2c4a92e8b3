// Frequency bands of the current frame as bars (straight up, mirrored about a base line, or
// radial around the centre of the frame). Each bar is one instanced quad, so only the pixels a
// bar covers are shaded. The whole track's band table is one storage buffer; per frame only
// `frame` and the bound parameters change. Output is premultiplied RGBA.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct SpectrumParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: SpectrumParams;
@group(0) @binding(1) var<storage, read> bands: array<f32>;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    // Distance from the base along the bar, in units of the full bar height (signed when mirrored).
    @location(0) t: f32,
};

fn level(bar: u32) -> f32 {
    let band = min(bar * u.n_bands / u.bars, u.n_bands - 1u);
    return clamp(bands[u.frame * u.n_bands + band] * u.gain, 0.0, 1.0);
}

// Quad corners as (across the bar 0..1, along the bar 0..1).
const CORNERS = array<vec2<f32>, 6>(
    vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 1.0), vec2<f32>(0.0, 1.0),
);

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, @builtin(instance_index) bar: u32) -> VsOut {
    var out: VsOut;
    let c = CORNERS[vi];
    let extent = level(bar) * u.height;
    let across = (f32(bar) + u.gap + c.x * (1.0 - u.gap)) / f32(u.bars);
    if (u.style == 2u) {
        // Radial: the bar is a wedge from `radius` outwards; angle 0 is straight up, clockwise.
        let angle = across * 6.28318530718;
        let r = u.radius + c.y * extent;
        let aspect = u.viewport.x / u.viewport.y;
        let p = vec2<f32>(sin(angle) * r / aspect, cos(angle) * r) * 2.0;
        out.position = vec4<f32>(p, 0.0, 1.0);
        out.t = c.y * extent / max(u.height, 1e-6);
        return out;
    }
    var along = c.y * extent;
    if (u.style == 1u) {
        along = (2.0 * c.y - 1.0) * extent;
    }
    let y = u.base_y + along;
    out.position = vec4<f32>(across * 2.0 - 1.0, y * 2.0 - 1.0, 0.0, 1.0);
    out.t = along / max(u.height, 1e-6);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let c = mix(u.color, u.color_top, clamp(abs(in.t), 0.0, 1.0));
    return vec4<f32>(c.rgb * c.a, c.a);
}
