// The blend modes of W3C "Compositing and Blending Level 1" followed by source-over compositing,
// on premultiplied RGBA in floating point (HDR: colour values may exceed 1). Pure functions: the
// compositor pass (composite.wgsl) and the colour conversion (rgba_to_yuv.wgsl) both use them
// through stack.wgsl.
//
// Colour values are non-linear sRGB, blended as they are, as browsers do. In 0..1 every mode is
// the specification's formula. Beyond 1 (light added by `add`, additive sprites, bloom):
// * normal, add, screen and multiply use their premultiplied closed forms, which equal the
//   specification in 0..1 and extend it without a clamp. They are also exactly what fixed-function
//   blending computes, which is what lets a layer in these modes draw straight into the composite
//   (gpurender.render.compositor.direct_blend).
// * the other modes are defined on 0..1 only: their blend function sees the backdrop and the
//   layer clamped to 0..1, while the part of the backdrop the layer leaves uncovered keeps its light.
// Alpha is never clamped here (add sums it); whoever reads a backdrop's alpha clamps it.

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
// Not a scene's mode: how an effect layer's output replaces what is beneath it in "normal",
// mix(backdrop, effect, opacity) (gpurender.render.compositor.REPLACE).
const REPLACE: u32 = 17u;

// Backdrop colours come out of float arithmetic; within this of 0 or 1 they count as exactly 0 or
// 1 in the equality tests of color-dodge and color-burn, so rounding noise cannot flip a branch.
const EDGE_EPS: f32 = 1e-6;

// Steps each layer is read at (see gpurender/render/compositor.py): 255 for 8-bit output, 1023
// for 10-bit video.
override LEVELS: f32 = 255.0;

fn quantize(c: vec3<f32>) -> vec3<f32> {
    return round(c * LEVELS) / LEVELS;
}

fn quantize1(a: f32) -> f32 {
    return round(a * LEVELS) / LEVELS;
}

fn max3(c: vec3<f32>) -> f32 {
    return max(c.r, max(c.g, c.b));
}

// Straight colour in 0..1 of a premultiplied colour `c` at alpha `a` in 0..1; alpha 0 gives black,
// and c >= alpha gives exactly 1 (a division need not return exactly 1 for equal operands on
// every GPU).
fn unpremultiply(c: vec3<f32>, a: f32) -> vec3<f32> {
    if (a <= 0.0) {
        return vec3<f32>(0.0);
    }
    return select(clamp(c / a, vec3<f32>(0.0), vec3<f32>(1.0)), vec3<f32>(1.0), c >= vec3<f32>(a));
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

// A layer texel as the compositor reads it: straight colour `cs` (xyz) and alpha (w) at the
// output's precision, HDR light kept. A texel brighter than its alpha (drawn additively) is read as
// if its alpha were its brightest channel, so its light is kept instead of being clamped away; the
// colour and alpha are rounded to LEVELS steps (see compositor.py for why). Light beyond 1 exists
// only where the alpha is 1 (the alpha is at least every channel), and stays.
fn layer_straight(s: vec4<f32>) -> vec4<f32> {
    let rgb = max(s.rgb, vec3<f32>(0.0));
    let as_layer = clamp(max(s.a, max3(rgb)), 0.0, 1.0);
    if (as_layer <= 0.0) {
        return vec4<f32>(0.0);
    }
    let cs = quantize(select(min(rgb / as_layer, vec3<f32>(1.0)), rgb, as_layer >= 1.0));
    return vec4<f32>(cs, quantize1(as_layer));
}

// The layer texel `s` as a premultiplied source at `opacity`: what every mode composites, and
// what the blit pass hands to fixed-function blending (composite.wgsl fs_blit).
fn layer_source(s: vec4<f32>, opacity: f32) -> vec4<f32> {
    let c = layer_straight(s);
    let as_ = c.a * clamp(opacity, 0.0, 1.0);
    return vec4<f32>(as_ * c.rgb, as_);
}

// One layer texel `s` (premultiplied, possibly HDR) at `opacity` over the premultiplied backdrop
// `b`: the blend step, then source-over. `mode` is a constant after pipeline specialisation, so
// the branches fold away.
fn composite_layer(b: vec4<f32>, s: vec4<f32>, mode: u32, opacity: f32) -> vec4<f32> {
    let op = clamp(opacity, 0.0, 1.0);
    if (mode == REPLACE) {
        return b * (1.0 - op) + s * op;
    }
    let read = layer_straight(s);
    if (read.a <= 0.0) {
        // Where a layer has nothing, every mode leaves the backdrop as it is (as = 0 in every
        // formula below).
        return b;
    }
    let cs = read.rgb;
    let as_ = read.a * op;
    let src = as_ * cs;  // premultiplied, the opacity folded in
    let ab = clamp(b.a, 0.0, 1.0);
    let alpha = as_ + b.a * (1.0 - as_);
    switch mode {
        case NORMAL: {
            return vec4<f32>(src + b.rgb * (1.0 - as_), alpha);
        }
        case ADD: {
            // plus-lighter: a compositing operator on premultiplied values, with no blend function.
            return vec4<f32>(b.rgb + src, b.a + as_);
        }
        case SCREEN: {
            // = as (1 - ab) Cs + as ab B(Cb, Cs) + (1 - as) ab Cb with B = Cb + Cs - Cb Cs
            return vec4<f32>(src + b.rgb - src * b.rgb, alpha);
        }
        case MULTIPLY: {
            // = as (1 - ab) Cs + as ab Cb Cs + (1 - as) ab Cb
            return vec4<f32>(src * (1.0 - ab) + src * b.rgb + b.rgb * (1.0 - as_), alpha);
        }
        default: {
            let cb = unpremultiply(b.rgb, ab);
            let cs1 = min(cs, vec3<f32>(1.0));
            let mixed = (1.0 - ab) * cs1 + ab * clamp(blend(mode, cb, cs1), vec3<f32>(0.0), vec3<f32>(1.0));
            return vec4<f32>(as_ * mixed + b.rgb * (1.0 - as_), alpha);
        }
    }
}
