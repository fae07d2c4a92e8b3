// Stacks every layer over the background in one pass, with the blend modes of W3C "Compositing
// and Blending Level 1" and source-over compositing.
//
// Every layer texture holds premultiplied RGBA whose colour values are non-linear sRGB in 0..1;
// blending happens on those values directly, as browsers do. The layers are the slices of one
// texture array; each fragment walks them bottom to top, keeping the premultiplied backdrop in
// registers (float32), and writes the straight-alpha result. One pass, whatever the layer count:
// on a software rasterizer each extra full-frame pass costs as much as a layer's drawing.

//#include "common.wgsl"

// The stack: the background and each layer's mode and opacity (at most MAX_LAYERS, the array's
// length). Declared once, with the other structs shared with Python, in gpurender/render/structs.py.
//#include "struct Stack"

@group(0) @binding(0) var layer_stack: texture_2d_array<f32>;
// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(1) var<storage, read> stack: Stack;

// The pipeline is specialised for a scene's stack: its layer count and the blend mode of each of
// the first eight layers are pipeline-overridable constants, so the compiler folds the mode
// switch away (a runtime switch over 17 modes cost a software rasterizer ~25 ms per layer at 720p).
// Layers past the eighth read their mode from the stack. The first eight steps are written out
// (not a loop) so that each one's mode is a constant after specialisation.
override LAYER_COUNT: u32 = 0u;
override MODE0: u32 = 0u;
override MODE1: u32 = 0u;
override MODE2: u32 = 0u;
override MODE3: u32 = 0u;
override MODE4: u32 = 0u;
override MODE5: u32 = 0u;
override MODE6: u32 = 0u;
override MODE7: u32 = 0u;


// Mode numbers: the index in gpurender.render.compositor.BLEND_MODES.
const NORMAL: u32 = 0u;
const MULTIPLY: u32 = 1u;
const SCREEN: u32 = 2u;
const OVERLAY: u32 = 3u;
const DARKEN: u32 = 4u;
const LIGHTEN: u32 = 5u;
const COLOR_DODGE: u32 = 6u;
const COLOR_BURN: u32 = 7u;
const HARD_LIGHT: u32 = 8u;
const SOFT_LIGHT: u32 = 9u;
const DIFFERENCE: u32 = 10u;
const EXCLUSION: u32 = 11u;
const HUE: u32 = 12u;
const SATURATION: u32 = 13u;
const COLOR: u32 = 14u;
const LUMINOSITY: u32 = 15u;
const ADD: u32 = 16u;

// Backdrop colours come out of float arithmetic; within this of 0 or 1 they count as exactly 0 or
// 1 in the equality tests of color-dodge and color-burn, so rounding noise cannot flip a branch.
const EDGE_EPS: f32 = 1e-6;

// Straight colour of a premultiplied texel; alpha 0 gives black, and c >= alpha gives exactly 1
// (a division need not return exactly 1 for equal operands on every GPU).
fn unpremultiply(c: vec3<f32>, a: f32) -> vec3<f32> {
    if (a <= 0.0) {
        return vec3<f32>(0.0);
    }
    return select(clamp(c / a, vec3<f32>(0.0), vec3<f32>(1.0)), vec3<f32>(1.0), c >= vec3<f32>(a));
}

// Steps of the output's precision that each layer is read at (see compositor.py): 255 for the
// 8-bit output, 1023 for the float output behind 10-bit video.
override LEVELS: f32 = 255.0;

fn quantize(c: vec3<f32>) -> vec3<f32> {
    return round(c * LEVELS) / LEVELS;
}

fn quantize1(a: f32) -> f32 {
    return round(a * LEVELS) / LEVELS;
}

// ---- separable blend functions B(Cb, Cs), per channel ----

fn multiply(cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    return cb * cs;
}

fn screen(cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    return cb + cs - cb * cs;
}

fn hard_light(cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    return select(screen(cb, 2.0 * cs - 1.0), multiply(cb, 2.0 * cs), cs <= vec3<f32>(0.5));
}

fn color_dodge1(cb: f32, cs: f32) -> f32 {
    if (cb <= EDGE_EPS) {
        return 0.0;
    }
    if (cs >= 1.0) {
        return 1.0;
    }
    return min(1.0, cb / (1.0 - cs));
}

fn color_burn1(cb: f32, cs: f32) -> f32 {
    if (cb >= 1.0 - EDGE_EPS) {
        return 1.0;
    }
    if (cs <= 0.0) {
        return 0.0;
    }
    return 1.0 - min(1.0, (1.0 - cb) / cs);
}

fn soft_light(cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    let d = select(sqrt(cb), ((16.0 * cb - 12.0) * cb + 4.0) * cb, cb <= vec3<f32>(0.25));
    let darker = cb - (1.0 - 2.0 * cs) * cb * (1.0 - cb);
    let lighter = cb + (2.0 * cs - 1.0) * (d - cb);
    return select(lighter, darker, cs <= vec3<f32>(0.5));
}

// ---- non-separable helpers, as the specification defines them ----

fn lum(c: vec3<f32>) -> f32 {
    return dot(c, vec3<f32>(0.3, 0.59, 0.11));
}

fn clip_color(c_in: vec3<f32>) -> vec3<f32> {
    var c = c_in;
    let l = lum(c);
    let n = min(c.r, min(c.g, c.b));
    let x = max(c.r, max(c.g, c.b));
    if (n < 0.0) {
        c = l + (c - l) * l / (l - n);
    }
    if (x > 1.0) {
        c = l + (c - l) * (1.0 - l) / (x - l);
    }
    return c;
}

fn set_lum(c: vec3<f32>, l: f32) -> vec3<f32> {
    return clip_color(c + (l - lum(c)));
}

fn sat(c: vec3<f32>) -> f32 {
    return max(c.r, max(c.g, c.b)) - min(c.r, min(c.g, c.b));
}

// Maps the smallest channel to 0, the largest to s and the middle one proportionally; applying
// the same affine map to all three channels does exactly that (ties included).
fn set_sat(c: vec3<f32>, s: f32) -> vec3<f32> {
    let lo = min(c.r, min(c.g, c.b));
    let hi = max(c.r, max(c.g, c.b));
    if (hi > lo) {
        return (c - lo) * s / (hi - lo);
    }
    return vec3<f32>(0.0);
}

fn blend(mode: u32, cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    switch mode {
        case MULTIPLY: { return multiply(cb, cs); }
        case SCREEN: { return screen(cb, cs); }
        case OVERLAY: { return hard_light(cs, cb); }
        case DARKEN: { return min(cb, cs); }
        case LIGHTEN: { return max(cb, cs); }
        case COLOR_DODGE: {
            return vec3<f32>(color_dodge1(cb.r, cs.r), color_dodge1(cb.g, cs.g), color_dodge1(cb.b, cs.b));
        }
        case COLOR_BURN: {
            return vec3<f32>(color_burn1(cb.r, cs.r), color_burn1(cb.g, cs.g), color_burn1(cb.b, cs.b));
        }
        case HARD_LIGHT: { return hard_light(cb, cs); }
        case SOFT_LIGHT: { return soft_light(cb, cs); }
        case DIFFERENCE: { return abs(cb - cs); }
        case EXCLUSION: { return cb + cs - 2.0 * cb * cs; }
        case HUE: { return set_lum(set_sat(cs, sat(cb)), lum(cb)); }
        case SATURATION: { return set_lum(set_sat(cb, sat(cs)), lum(cb)); }
        case COLOR: { return set_lum(cs, lum(cb)); }
        case LUMINOSITY: { return set_lum(cb, lum(cs)); }
        default: { return cs; }
    }
}

@vertex
fn vs_main(@builtin(vertex_index) vertex_index: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vertex_index);
}

// One layer over the premultiplied backdrop `b`: the spec's blend step, then source-over.
fn composite_layer(b: vec4<f32>, p: vec2<i32>, i: u32, mode: u32) -> vec4<f32> {
    let opacity = clamp(stack.layers[i].opacity, 0.0, 1.0);
    let s = textureLoad(layer_stack, p, i32(i), 0);
    let ab = b.a;
    let cb_pre = b.rgb;
    // A texel brighter than its alpha (drawn additively) is read as if its alpha were its
    // brightest channel, so its light is kept instead of being clamped away.
    let cs_layer = clamp(s.rgb, vec3<f32>(0.0), vec3<f32>(1.0));
    let as_layer = clamp(max(s.a, max(cs_layer.r, max(cs_layer.g, cs_layer.b))), 0.0, 1.0);
    // The layer is read as straight RGBA at the output's precision (see compositor.py for why).
    let cs = quantize(unpremultiply(cs_layer, as_layer));
    let as_ = quantize1(as_layer) * opacity;
    if (mode == ADD) {
        // plus-lighter: a compositing operator on premultiplied values, with no blend function.
        return vec4<f32>(min(as_ * cs + cb_pre, vec3<f32>(1.0)), min(as_ + ab, 1.0));
    }
    let cb = unpremultiply(cb_pre, ab);
    let mixed = (1.0 - ab) * cs + ab * clamp(blend(mode, cb, cs), vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(as_ * mixed + cb_pre * (1.0 - as_), as_ + ab * (1.0 - as_));
}

@fragment
fn fs_main(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let p = vec2<i32>(position.xy);
    let a0 = clamp(stack.background.a, 0.0, 1.0);
    var b = vec4<f32>(clamp(stack.background.rgb, vec3<f32>(0.0), vec3<f32>(1.0)) * a0, a0);
    if (LAYER_COUNT > 0u) { b = composite_layer(b, p, 0u, MODE0); }
    if (LAYER_COUNT > 1u) { b = composite_layer(b, p, 1u, MODE1); }
    if (LAYER_COUNT > 2u) { b = composite_layer(b, p, 2u, MODE2); }
    if (LAYER_COUNT > 3u) { b = composite_layer(b, p, 3u, MODE3); }
    if (LAYER_COUNT > 4u) { b = composite_layer(b, p, 4u, MODE4); }
    if (LAYER_COUNT > 5u) { b = composite_layer(b, p, 5u, MODE5); }
    if (LAYER_COUNT > 6u) { b = composite_layer(b, p, 6u, MODE6); }
    if (LAYER_COUNT > 7u) { b = composite_layer(b, p, 7u, MODE7); }
    for (var i = 8u; i < LAYER_COUNT; i = i + 1u) {
        b = composite_layer(b, p, i, stack.layers[i].mode);
    }
    let a = clamp(b.a, 0.0, 1.0);
    return vec4<f32>(unpremultiply(clamp(b.rgb, vec3<f32>(0.0), vec3<f32>(a)), a), a);
}
