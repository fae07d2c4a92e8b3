// Converts the composited RGBA frame to planar I420 (BT.709, limited range) in a storage buffer.
//
// Layout of `dst`, tightly packed bytes: the Y plane (width x height), then U and V
// (width/2 x height/2 each). WGSL has no byte stores, so every store is a whole u32 word (four
// consecutive output bytes). Two entry points:
//
// * `main_bytes` (any even size): one invocation per output word, working out for each of its
//   bytes which plane and pixel it is, so planes and rows may start anywhere inside a word.
// * `main_tiles` (width a multiple of 8): one invocation per 8x2 pixel tile, which owns exactly
//   four Y words, one U word and one V word, and reads each texel once. About 3x fewer texel
//   loads and far less index arithmetic; this is the common case (1280, 1920, 3840 wide).
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
// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(2) var<storage, read> params: Params;

//#include "yuv_codes.wgsl"

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

// Large frames need more than 65535 workgroups, so dispatches are two-dimensional.
fn linear_id(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

@compute @workgroup_size(64)
fn main_bytes(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let word = linear_id(gid, groups);
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

@compute @workgroup_size(64)
fn main_tiles(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let w = params.width;
    let tiles_x = w / 8u;
    let tile = linear_id(gid, groups);
    if (tile >= tiles_x * (params.height / 2u)) {
        return;
    }
    let tx = tile % tiles_x;
    let ty = tile / tiles_x;
    let x0 = i32(8u * tx);
    let y0 = i32(2u * ty);

    var y_top: array<u32, 8>;
    var y_bottom: array<u32, 8>;
    var cb: array<u32, 4>;
    var cr: array<u32, 4>;
    for (var k = 0; k < 4; k = k + 1) {
        let p = vec2<i32>(x0 + 2 * k, y0);
        let a = textureLoad(src, p, 0).rgb;
        let b = textureLoad(src, p + vec2<i32>(1, 0), 0).rgb;
        let c = textureLoad(src, p + vec2<i32>(0, 1), 0).rgb;
        let d = textureLoad(src, p + vec2<i32>(1, 1), 0).rgb;
        y_top[2 * k] = y_code(a);
        y_top[2 * k + 1] = y_code(b);
        y_bottom[2 * k] = y_code(c);
        y_bottom[2 * k + 1] = y_code(d);
        let m = 0.25 * (a + b + c + d);
        cb[k] = cb_code(m);
        cr[k] = cr_code(m);
    }

    // w is a multiple of 8, so every row, and every chroma row, starts on a word boundary.
    let top = (2u * ty * w + 8u * tx) / 4u;
    let bottom = top + w / 4u;
    dst[top] = pack4(y_top[0], y_top[1], y_top[2], y_top[3]);
    dst[top + 1u] = pack4(y_top[4], y_top[5], y_top[6], y_top[7]);
    dst[bottom] = pack4(y_bottom[0], y_bottom[1], y_bottom[2], y_bottom[3]);
    dst[bottom + 1u] = pack4(y_bottom[4], y_bottom[5], y_bottom[6], y_bottom[7]);
    let y_words = w * params.height / 4u;
    let c_words = y_words / 4u;
    dst[y_words + tile] = pack4(cb[0], cb[1], cb[2], cb[3]);
    dst[y_words + c_words + tile] = pack4(cr[0], cr[1], cr[2], cr[3]);
}
