// A run of layers composited over a backdrop, per pixel, in float32 registers: what the
// compositor pass (composite.wgsl) writes into a composite target and what the colour conversion
// (rgba_to_yuv.wgsl) computes on the fly for the layers at the top of a scene, so that they cost no
// pass of their own.
//
// The backdrop is a composite texture (premultiplied, HDR), or, for a run that starts at the
// bottom of the scene, the background colour itself, which keeps the whole stack in float32 from
// the background up (8-bit images then blend to the correctly rounded 8-bit values of the
// specification). The run's layers are consecutive slices of the layer array, FIRST up; each
// one's opacity (and mode, past the eighth) comes from the stack buffer, entry FIRST + i.

//#include "blend.wgsl"

// The stack: the background and each layer slot's mode and opacity (at most MAX_LAYERS, the
// array's length). Declared once, with the other structs shared with Python, in
// gpurender/render/structs.py.
//#include "struct Stack"

@group(1) @binding(0) var gpurender_backdrop: texture_2d<f32>;
@group(1) @binding(1) var gpurender_layers: texture_2d_array<f32>;
// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(1) @binding(2) var<storage, read> stack: Stack;

// The pipeline is specialised for its run: the layer count, the first slot, whether the run starts
// from the background, and the blend mode of each of the first eight layers are
// pipeline-overridable constants, so the compiler folds the mode switch away (a runtime switch over
// 17 modes cost a software rasterizer ~25 ms per layer at 720p). Layers past the eighth read their
// mode from the stack. The first eight steps are written out (not a loop) so that each one's mode
// is a constant after specialisation.
override LAYER_COUNT: u32 = 0u;
override FIRST: u32 = 0u;
override FROM_BACKGROUND: bool = false;
override MODE0: u32 = 0u;
override MODE1: u32 = 0u;
override MODE2: u32 = 0u;
override MODE3: u32 = 0u;
override MODE4: u32 = 0u;
override MODE5: u32 = 0u;
override MODE6: u32 = 0u;
override MODE7: u32 = 0u;

fn stack_step(b: vec4<f32>, p: vec2<i32>, i: u32, mode: u32) -> vec4<f32> {
    let slot = FIRST + i;
    let layer = stack.layers[slot];
    // Outside the rectangle it drew in, a layer is transparent: nothing to read. (A GPU skips the
    // read and the blend there; a software rasterizer runs both sides of a branch that differs
    // between the pixels it shades together, so there this saves nothing.) An effect's output
    // replaces what is beneath everywhere.
    if (mode != REPLACE && (any(p < layer.rect.xy) || any(p >= layer.rect.zw))) {
        return b;
    }
    return composite_layer(b, textureLoad(gpurender_layers, p, i32(slot), 0), mode, layer.opacity);
}

// The premultiplied composite at pixel `p` of the run's size.
fn composite_at(p: vec2<i32>) -> vec4<f32> {
    var b: vec4<f32>;
    if (FROM_BACKGROUND) {
        let a0 = clamp(stack.background.a, 0.0, 1.0);
        b = vec4<f32>(clamp(stack.background.rgb, vec3<f32>(0.0), vec3<f32>(1.0)) * a0, a0);
    } else {
        b = textureLoad(gpurender_backdrop, p, 0);
    }
    if (LAYER_COUNT > 0u) { b = stack_step(b, p, 0u, MODE0); }
    if (LAYER_COUNT > 1u) { b = stack_step(b, p, 1u, MODE1); }
    if (LAYER_COUNT > 2u) { b = stack_step(b, p, 2u, MODE2); }
    if (LAYER_COUNT > 3u) { b = stack_step(b, p, 3u, MODE3); }
    if (LAYER_COUNT > 4u) { b = stack_step(b, p, 4u, MODE4); }
    if (LAYER_COUNT > 5u) { b = stack_step(b, p, 5u, MODE5); }
    if (LAYER_COUNT > 6u) { b = stack_step(b, p, 6u, MODE6); }
    if (LAYER_COUNT > 7u) { b = stack_step(b, p, 7u, MODE7); }
    for (var i = 8u; i < LAYER_COUNT; i = i + 1u) {
        b = stack_step(b, p, i, stack.layers[FIRST + i].mode);
    }
    return b;
}
