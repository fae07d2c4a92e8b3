// The vignette effect: a colour laid over the edges of the picture beneath, rising smoothly from
// `radius` to `radius + softness` (distances from the centre where a corner is at 1).

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct VignetteParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: VignetteParams;
@group(0) @binding(1) var source: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let c = textureLoad(source, vec2<i32>(pos.xy), 0);
    let size = vec2<f32>(textureDimensions(source));
    let d = length((pos.xy - 0.5 * size) * u.scale);
    let x = clamp((d - u.radius) / u.softness, 0.0, 1.0);
    let v = u.strength * x * x * (3.0 - 2.0 * x);
    // The colour (premultiplied) over the picture with coverage v.
    return c * (1.0 - v * u.color.a) + u.color * v;
}
