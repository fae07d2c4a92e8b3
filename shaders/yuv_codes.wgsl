// BT.709 limited-range code values from R'G'B' in 0..1 (sRGB-encoded, used as they are), rounded
// to nearest with halves up, and the packing of four bytes into one u32 word (WGSL has no byte
// stores). Shared by the RGBA->I420 conversion and the point splat's direct I420 resolve.

// BT.709 luma coefficients.
const KR: f32 = 0.2126;
const KB: f32 = 0.0722;
const KG: f32 = 0.7152;

fn luma(rgb: vec3<f32>) -> f32 {
    return dot(rgb, vec3<f32>(KR, KG, KB));
}

fn to_code(x: f32) -> u32 {
    return u32(clamp(floor(x + 0.5), 0.0, 255.0));
}

fn y_code(rgb: vec3<f32>) -> u32 {
    return to_code(16.0 + 219.0 * luma(rgb));
}

fn cb_code(rgb: vec3<f32>) -> u32 {
    return to_code(128.0 + 112.0 * (rgb.b - luma(rgb)) / (1.0 - KB));
}

fn cr_code(rgb: vec3<f32>) -> u32 {
    return to_code(128.0 + 112.0 * (rgb.r - luma(rgb)) / (1.0 - KR));
}

fn pack4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    return a | (b << 8u) | (c << 16u) | (d << 24u);
}
