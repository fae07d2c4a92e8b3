// Converts the composited RGBA frame to planar I420 (BT.709, limited range) in a storage buffer.
//
// Layout of `dst`, tightly packed bytes: the Y plane (width x height), then U and V
// (width/2 x height/2 each). WGSL has no byte stores, so each invocation writes one u32 word,
// i.e. four consecutive output bytes, and works out for each byte which plane and pixel it
// belongs to. That keeps any even width and height correct, including sizes whose planes do not
// start on a word boundary.
//
// Colour: the texture holds sRGB-encoded values, used as R'G'B' as they are (no linearisation;
// alpha is ignored, i.e. the frame is shown over nothing). Chroma averages the R'G'B' of each
// 2x2 block first and then converts; since the conversion is affine this equals averaging
// unrounded per-pixel chroma. Every code value is rounded to nearest (halves up).

struct Params {
    width: u32,
    height: u32,
    n_words: u32,
    n_bytes: u32,
};

@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

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

fn block_rgb(cx: u32, cy: u32) -> vec3<f32> {
    let p = vec2<i32>(i32(2u * cx), i32(2u * cy));
    let s = textureLoad(src, p, 0).rgb
        + textureLoad(src, p + vec2<i32>(1, 0), 0).rgb
        + textureLoad(src, p + vec2<i32>(0, 1), 0).rgb
        + textureLoad(src, p + vec2<i32>(1, 1), 0).rgb;
    return 0.25 * s;
}

fn byte_at(b: u32) -> u32 {
    let w = params.width;
    let y_size = w * params.height;
    if (b < y_size) {
        let p = vec2<i32>(i32(b % w), i32(b / w));
        return y_code(textureLoad(src, p, 0).rgb);
    }
    let cw = w / 2u;
    let c_size = cw * (params.height / 2u);
    var c = b - y_size;
    if (c < c_size) {
        return cb_code(block_rgb(c % cw, c / cw));
    }
    c = c - c_size;
    return cr_code(block_rgb(c % cw, c / cw));
}

@compute @workgroup_size(64)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Large frames need more than 65535 workgroups, so the dispatch is two-dimensional.
    let word = gid.x + gid.y * groups.x * 64u;
    if (word >= params.n_words) {
        return;
    }
    var packed = 0u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        let b = 4u * word + k;
        if (b < params.n_bytes) {
            packed = packed | (byte_at(b) << (8u * k));
        }
    }
    dst[word] = packed;
}
