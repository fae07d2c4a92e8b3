// Converts the composited RGBA frame to planar Y'CbCr 4:2:0 (BT.709, limited range) in a storage
// buffer: 8-bit I420, or 10-bit as yuv420p10le or P010.
//
// 8-bit layout of `dst`, tightly packed bytes: the Y plane (width x height), then U and V
// (width/2 x height/2 each). WGSL has no byte stores, so every store is a whole u32 word (four
// consecutive output bytes). Two entry points:
//
// * `main_bytes` (any even size): one invocation per output word, working out for each of its
//   bytes which plane and pixel it is, so planes and rows may start anywhere inside a word.
// * `main_tiles` (width a multiple of 8): one invocation per 8x2 pixel tile, which owns exactly
//   four Y words, one U word and one V word, and reads each texel once. About 3x fewer texel
//   loads and far less index arithmetic; this is the common case (1280, 1920, 3840 wide).
//
// 10-bit layouts, 16-bit little-endian samples (two to a word), `params.p010` choosing:
// yuv420p10le (0): the same three planes, codes 0..1023 in the low bits; P010 (1, what NVENC
// takes): the Y plane, then one plane of interleaved Cb Cr pairs (width x height/2 samples), codes
// in the top 10 bits (code << 6). `main_words16` and `main_tiles16` mirror the 8-bit pair.
//
// Colour: the texture holds sRGB-encoded values, used as R'G'B' as they are (no linearisation;
// alpha is ignored, i.e. the frame is shown over nothing). Chroma averages the R'G'B' of each
// 2x2 block first and then converts; since the conversion is affine this equals averaging
// unrounded per-pixel chroma. Every code value is rounded to nearest (halves up). A float
// texture (rgba16float, for 10-bit output) is read at its full precision.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct YuvParams"

@group(0) @binding(0) var src: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(2) var<storage, read> params: YuvParams;

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

// ---- 10-bit: 16-bit samples ----

fn luma10(rgb: vec3<f32>) -> u32 {
    return to_code10(y_value(rgb)) << (6u * params.p010);
}

fn sample16(s: u32) -> u32 {
    let w = params.width;
    let y_size = w * params.height;
    if (s < y_size) {
        return luma10(textureLoad(src, vec2<i32>(i32(s % w), i32(s / w)), 0).rgb);
    }
    let cw = w / 2u;
    var c = s - y_size;
    if (params.p010 == 1u) {
        let pair = c / 2u;
        let m = block_rgb(pair % cw, pair / cw);
        return to_code10(select(cr_value(m), cb_value(m), c % 2u == 0u)) << 6u;
    }
    let c_size = cw * (params.height / 2u);
    if (c < c_size) {
        return to_code10(cb_value(block_rgb(c % cw, c / cw)));
    }
    c = c - c_size;
    return to_code10(cr_value(block_rgb(c % cw, c / cw)));
}

// Any even size: one invocation per output word (two samples). A frame always has an even number
// of samples (3 * w * h / 2 with w and h even), so no word is half used.
@compute @workgroup_size(64)
fn main_words16(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let word = linear_id(gid, groups);
    if (word >= params.n_words) {
        return;
    }
    dst[word] = pack2(sample16(2u * word), sample16(2u * word + 1u));
}

// Width a multiple of 8: one invocation per 8x2 pixel tile, which owns four Y words in each of its
// two rows and, planar, two Cb and two Cr words, or, P010, four interleaved CbCr words.
@compute @workgroup_size(64)
fn main_tiles16(
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
    let shift = 6u * params.p010;
    for (var k = 0; k < 4; k = k + 1) {
        let p = vec2<i32>(x0 + 2 * k, y0);
        let a = textureLoad(src, p, 0).rgb;
        let b = textureLoad(src, p + vec2<i32>(1, 0), 0).rgb;
        let c = textureLoad(src, p + vec2<i32>(0, 1), 0).rgb;
        let d = textureLoad(src, p + vec2<i32>(1, 1), 0).rgb;
        y_top[2 * k] = luma10(a);
        y_top[2 * k + 1] = luma10(b);
        y_bottom[2 * k] = luma10(c);
        y_bottom[2 * k + 1] = luma10(d);
        let m = 0.25 * (a + b + c + d);
        cb[k] = to_code10(cb_value(m)) << shift;
        cr[k] = to_code10(cr_value(m)) << shift;
    }

    // In words: a Y row is w/2 words, a multiple of 4, so every tile row starts on a word.
    let top = (2u * ty * w + 8u * tx) / 2u;
    let bottom = top + w / 2u;
    for (var k = 0u; k < 4u; k = k + 1u) {
        dst[top + k] = pack2(y_top[2u * k], y_top[2u * k + 1u]);
        dst[bottom + k] = pack2(y_bottom[2u * k], y_bottom[2u * k + 1u]);
    }
    let y_words = w * params.height / 2u;
    if (params.p010 == 1u) {
        // One CbCr row of w samples per two pixel rows; this tile's four pairs are 4 words.
        let uv = y_words + (ty * w + 8u * tx) / 2u;
        for (var k = 0u; k < 4u; k = k + 1u) {
            dst[uv + k] = pack2(cb[k], cr[k]);
        }
    } else {
        let c_words = y_words / 4u;
        let u = y_words + (ty * (w / 2u) + 4u * tx) / 2u;
        dst[u] = pack2(cb[0], cb[1]);
        dst[u + 1u] = pack2(cb[2], cb[3]);
        dst[u + c_words] = pack2(cr[0], cr[1]);
        dst[u + c_words + 1u] = pack2(cr[2], cr[3]);
    }
}
