// BT.709 limited-range code values from R'G'B' in 0..1 (sRGB-encoded, used as they are), 8- or
// 10-bit, rounded to nearest with halves up, and the packing of bytes or 16-bit samples into u32
// words (WGSL has no byte stores). Shared by the RGBA->YUV conversion and the point splat's direct
// I420 resolve.

// BT.709 luma coefficients.
const KR: f32 = 0.2126;
const KB: f32 = 0.0722;
const KG: f32 = 0.7152;

fn luma(rgb: vec3<f32>) -> f32 {
    return dot(rgb, vec3<f32>(KR, KG, KB));
}

// The 8-bit code values before rounding. BT.709 defines the 10-bit codes as exactly four times
// these (Y 64..940, Cb/Cr 64..960), so both depths share them.
fn y_value(rgb: vec3<f32>) -> f32 {
    return 16.0 + 219.0 * luma(rgb);
}

fn cb_value(rgb: vec3<f32>) -> f32 {
    return 128.0 + 112.0 * (rgb.b - luma(rgb)) / (1.0 - KB);
}

fn cr_value(rgb: vec3<f32>) -> f32 {
    return 128.0 + 112.0 * (rgb.r - luma(rgb)) / (1.0 - KR);
}

fn to_code(x: f32) -> u32 {
    return u32(clamp(floor(x + 0.5), 0.0, 255.0));
}

fn to_code10(x8: f32) -> u32 {
    return u32(clamp(floor(4.0 * x8 + 0.5), 0.0, 1023.0));
}

fn y_code(rgb: vec3<f32>) -> u32 {
    return to_code(y_value(rgb));
}

fn cb_code(rgb: vec3<f32>) -> u32 {
    return to_code(cb_value(rgb));
}

fn cr_code(rgb: vec3<f32>) -> u32 {
    return to_code(cr_value(rgb));
}

fn pack4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    return a | (b << 8u) | (c << 16u) | (d << 24u);
}

// Two 16-bit little-endian samples in one word.
fn pack2(a: u32, b: u32) -> u32 {
    return a | (b << 16u);
}
