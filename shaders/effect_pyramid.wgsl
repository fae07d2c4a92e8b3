// The mip chain of the bloom and blur effects: a premultiplied image filtered down level by level
// to a few pixels, then back up, adding each level with its own weight (the renderers' module
// gpurender/render/effects/pyramid.py says why and how the weights are chosen).
//
// Down (fs_down): the 13-tap filter of Jimenez, "Next generation post processing in Call of Duty:
// Advanced Warfare" (SIGGRAPH 2014): five overlapping 4x4 boxes read with 13 bilinear taps, which
// keeps small bright things from flickering as they move across texels. The first pass may keep only
// what is above a soft threshold (bloom's prefilter), tap by tap, so thin bright lines still pass.
// Up (fs_up, fs_final): a cubic B-spline of the coarser level (four bilinear taps), smooth at every
// scale (no blocks), plus the finer image with its weight. Every pass draws a whole texture.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct PyramidStep"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: PyramidStep;
@group(0) @binding(1) var fine: texture_2d<f32>;
@group(0) @binding(2) var coarse: texture_2d<f32>;
@group(0) @binding(3) var linear_clamp: sampler;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

// Bloom's soft threshold on premultiplied colour (brightness = the largest channel): nothing below
// threshold - knee, a quadratic rise to threshold + knee, then everything above the threshold.
fn bright_part(c: vec4<f32>) -> vec4<f32> {
    let b = max(c.r, max(c.g, c.b));
    let knee = max(u.knee, 1e-5);
    var soft = clamp(b - u.threshold + knee, 0.0, 2.0 * knee);
    soft = soft * soft / (4.0 * knee);
    return c * (max(soft, b - u.threshold) / max(b, 1e-5));
}

fn down_tap(uv: vec2<f32>) -> vec4<f32> {
    let c = textureSampleLevel(fine, linear_clamp, uv, 0.0);
    if (u.prefilter == 1u) {
        return bright_part(c);
    }
    return c;
}

@fragment
fn fs_down(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let uv = pos.xy * u.out_texel;
    let t = u.texel;
    let a = down_tap(uv + t * vec2<f32>(-2.0, -2.0));
    let b = down_tap(uv + t * vec2<f32>(0.0, -2.0));
    let c = down_tap(uv + t * vec2<f32>(2.0, -2.0));
    let d = down_tap(uv + t * vec2<f32>(-2.0, 0.0));
    let e = down_tap(uv);
    let f = down_tap(uv + t * vec2<f32>(2.0, 0.0));
    let g = down_tap(uv + t * vec2<f32>(-2.0, 2.0));
    let h = down_tap(uv + t * vec2<f32>(0.0, 2.0));
    let i = down_tap(uv + t * vec2<f32>(2.0, 2.0));
    let j = down_tap(uv + t * vec2<f32>(-1.0, -1.0));
    let k = down_tap(uv + t * vec2<f32>(1.0, -1.0));
    let l = down_tap(uv + t * vec2<f32>(-1.0, 1.0));
    let m = down_tap(uv + t * vec2<f32>(1.0, 1.0));
    return e * 0.125 + (a + c + g + i) * 0.03125 + (b + d + f + h) * 0.0625 + (j + k + l + m) * 0.125;
}

// The coarser level at `uv`, through a cubic B-spline: smooth (no blocks, no diamonds) at every
// scale, in four bilinear taps (Sigg and Hadwiger, "Fast third-order texture filtering", GPU Gems 2,
// chapter 20).
fn upsample(uv: vec2<f32>) -> vec4<f32> {
    let size = 1.0 / u.texel;
    let t = uv * size - vec2<f32>(0.5);
    let i = floor(t);
    let f = t - i;
    let f2 = f * f;
    let f3 = f2 * f;
    let w0 = (1.0 - 3.0 * f + 3.0 * f2 - f3) / 6.0;
    let w1 = (4.0 - 6.0 * f2 + 3.0 * f3) / 6.0;
    let w2 = (1.0 + 3.0 * f + 3.0 * f2 - 3.0 * f3) / 6.0;
    let w3 = f3 / 6.0;
    let g0 = w0 + w1;
    let g1 = w2 + w3;
    // texel centres of the two bilinear taps per axis, where the weights come out right
    let p0 = (i - vec2<f32>(0.5) + w1 / g0) * u.texel;
    let p1 = (i + vec2<f32>(1.5) + w3 / g1) * u.texel;
    return (textureSampleLevel(coarse, linear_clamp, p0, 0.0) * g0.x
          + textureSampleLevel(coarse, linear_clamp, vec2<f32>(p1.x, p0.y), 0.0) * g1.x) * g0.y
         + (textureSampleLevel(coarse, linear_clamp, vec2<f32>(p0.x, p1.y), 0.0) * g0.x
          + textureSampleLevel(coarse, linear_clamp, p1, 0.0) * g1.x) * g1.y;
}

fn combine(pos: vec4<f32>) -> vec4<f32> {
    var out = upsample(pos.xy * u.out_texel) * u.coarse_weight;
    if (u.fine_weight != 0.0) {
        out += textureLoad(fine, vec2<i32>(pos.xy), 0) * u.fine_weight;
    }
    return out;
}

// One level of the way up: this level's own image (weighted) plus the coarser one, upsampled.
@fragment
fn fs_up(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    return combine(pos);
}

// The effect's output at full size: the source (weighted) plus the chain; alpha at most 1.
@fragment
fn fs_final(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let c = combine(pos);
    return vec4<f32>(c.rgb, min(c.a, 1.0));
}
