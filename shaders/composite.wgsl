// The compositor passes: a run of layers (stack.wgsl) over a backdrop, written as premultiplied RGBA
// into a composite target (floating point, HDR), one fullscreen triangle.
//
// `fs_main` replaces the target's pixels with the composite (the target is the other one of the
// frame loop's pair, not the backdrop it reads). `fs_accumulate` is the same picture weighted by
// WEIGHT, added to a motion-blur accumulator by the pipeline's additive blend state. `fs_blit`
// hands one layer (slot FIRST) as a premultiplied source to the fixed-function blend state of its
// mode, in the target itself (gpurender.render.compositor.BLIT_MODES), drawn only inside the
// rectangle the layer drew in.

//#include "common.wgsl"

//#include "stack.wgsl"

// The weight of one sub-frame in a motion-blurred frame: 1 / samples.
override WEIGHT: f32 = 1.0;

@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vertex_index);
}

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return composite_at(vec2<i32>(position.xy));
}

@fragment
fn fs_accumulate(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return composite_at(vec2<i32>(position.xy)) * WEIGHT;
}

@fragment
fn fs_blit(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let s = textureLoad(gpurender_layers, vec2<i32>(position.xy), i32(FIRST), 0);
    return layer_source(s, stack.layers[FIRST].opacity);
}
