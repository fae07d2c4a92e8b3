// From the composite (premultiplied, HDR, non-linear sRGB values) to output colour: straight
// alpha, exposure, tone mapping. Part of the colour conversion (rgba_to_yuv.wgsl), so it costs no
// pass of its own. Needs `unpremultiply` (blend.wgsl).
//
// With TONEMAP = none and no exposure (LINEAR false) colours are clipped to 0..1 as they are: the
// picture the compositor has always given. Otherwise the colour goes to linear light through the
// sRGB curve (extended past 1), is scaled by the exposure gain, mapped into 0..1 by the curve and
// encoded again:
// * none: clip;
// * reinhard: extended Reinhard per channel, x (1 + x / W^2) / (1 + x), white point W = 4 (light
//   four times the brightest colour a layer can draw becomes white; highlights roll off, mid-tones
//   darken a little);
// * aces: Narkowicz's fit of the ACES filmic curve, (x (2.51 x + 0.03)) / (x (2.43 x + 0.59) + 0.14)
//   (contrasty: mid-tones lifted slightly, 1.0 to 0.8, highlights compressed towards white).

override TONEMAP: u32 = 0u;  // 0 none, 1 reinhard, 2 aces (gpurender.render.convert.TONEMAPS)
override LINEAR: bool = false;  // a tone curve or an exposure: work in linear light

const TONEMAP_WHITE: f32 = 4.0;

fn srgb_to_linear(v: vec3<f32>) -> vec3<f32> {
    return select(pow((v + 0.055) / 1.055, vec3<f32>(2.4)), v / 12.92, v <= vec3<f32>(0.04045));
}

fn linear_to_srgb(x: vec3<f32>) -> vec3<f32> {
    return select(1.055 * pow(x, vec3<f32>(1.0 / 2.4)) - 0.055, 12.92 * x, x <= vec3<f32>(0.0031308));
}

fn tone_curve(x: vec3<f32>) -> vec3<f32> {
    switch TONEMAP {
        case 1u: {
            return x * (1.0 + x / (TONEMAP_WHITE * TONEMAP_WHITE)) / (1.0 + x);
        }
        case 2u: {
            return (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14);
        }
        default: {
            return x;
        }
    }
}

// Straight RGBA in 0..1 of the premultiplied composite `c`; `gain` is 2^exposure.
fn finish(c: vec4<f32>, gain: f32) -> vec4<f32> {
    let a = clamp(c.a, 0.0, 1.0);
    if (!LINEAR) {
        return vec4<f32>(unpremultiply(c.rgb, a), a);
    }
    if (a <= 0.0) {
        return vec4<f32>(0.0);
    }
    let lin = srgb_to_linear(max(c.rgb, vec3<f32>(0.0)) / a) * gain;
    let mapped = clamp(tone_curve(lin), vec3<f32>(0.0), vec3<f32>(1.0));
    return vec4<f32>(clamp(linear_to_srgb(mapped), vec3<f32>(0.0), vec3<f32>(1.0)), a);
}
