// Converts the composited frame to planar Y'CbCr 4:2:0 (BT.709, limited range) in a storage
// buffer: 8-bit I420, or 10-bit as yuv420p10le or P010; or to straight 8-bit RGBA (`main_rgba`,
// stills and transparent outputs).
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
// RGBA: one word per pixel, R G B A bytes, straight alpha, rows tightly packed.
//
// Where the pixels come from (`pixel`): the frame loop's composite, premultiplied and HDR
// (PREMULTIPLIED), with the layers at the top of the scene composited on the fly (stack.wgsl: the
// backdrop is the composite texture), averaged over SUPERSAMPLE x SUPERSAMPLE samples of a
// supersampled composite (a box filter over each output pixel's footprint, premultiplied), then
// exposed and tone mapped (tonemap.wgsl). So compositing the top layers, filtering down, tone
// mapping and conversion are one pass. Without PREMULTIPLIED the texture is a finished picture
// with straight alpha, converted as it is (alpha ignored).
//
// Colour: sRGB-encoded values, used as R'G'B' as they are (no linearisation; alpha is ignored for
// YUV, i.e. the frame is shown over nothing). Chroma averages the R'G'B' of each 2x2 block first
// and then converts; since the conversion is affine this equals averaging unrounded per-pixel
// chroma. Every code value is rounded to nearest (halves up). Float textures are read at their
// full precision.

//#include "stack.wgsl"

//#include "tonemap.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct YuvParams"

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(1) var<storage, read> params: YuvParams;

override PREMULTIPLIED: bool = false;
override SUPERSAMPLE: u32 = 1u;

//#include "yuv_codes.wgsl"

// Straight RGBA of output pixel `p`.
fn pixel(p: vec2<i32>) -> vec4<f32> {
    if (!PREMULTIPLIED) {
        return composite_at(p);
    }
    if (SUPERSAMPLE == 1u) {
        return finish(composite_at(p), params.gain);
    }
    let k = i32(SUPERSAMPLE);
    var sum = vec4<f32>(0.0);
    for (var sy = 0; sy < k; sy = sy + 1) {
        for (var sx = 0; sx < k; sx = sx + 1) {
            sum = sum + composite_at(p * k + vec2<i32>(sx, sy));
        }
    }
    return finish(sum / f32(SUPERSAMPLE * SUPERSAMPLE), params.gain);
}

fn rgb_at(p: vec2<i32>) -> vec3<f32> {
    return pixel(p).rgb;
}

// Every kernel below reads pixels at one call site, inside a loop: the compositing, filtering and
// tone mapping that `pixel` inlines are large, and a software rasterizer's compiler copies an
// inlined function once per call site (four call sites per byte cost seconds of compilation).

// The pixels of output byte/sample `s` of a planar frame: the pixel itself for luma, the 2x2 block
// for chroma. Returns (first pixel, pixel count, plane: 0 Y, 1 Cb, 2 Cr).
struct Sample {
    p: vec2<i32>,
    n: u32,
    plane: u32,
};

fn sample_at(s: u32) -> Sample {
    let w = params.width;
    let y_size = w * params.height;
    if (s < y_size) {
        return Sample(vec2<i32>(i32(s % w), i32(s / w)), 1u, 0u);
    }
    let cw = w / 2u;
    var c = s - y_size;
    if (params.p010 == 1u) {
        // one plane of interleaved Cb Cr pairs
        let pair = c / 2u;
        return Sample(vec2<i32>(i32(2u * (pair % cw)), i32(2u * (pair / cw))), 4u, 1u + c % 2u);
    }
    let c_size = cw * (params.height / 2u);
    var plane = 1u;
    if (c >= c_size) {
        c = c - c_size;
        plane = 2u;
    }
    return Sample(vec2<i32>(i32(2u * (c % cw)), i32(2u * (c / cw))), 4u, plane);
}

// The mean R'G'B' of a sample's pixels.
fn sample_rgb(smp: Sample) -> vec3<f32> {
    var sum = vec3<f32>(0.0);
    for (var j = 0u; j < smp.n; j = j + 1u) {
        sum = sum + rgb_at(smp.p + vec2<i32>(i32(j % 2u), i32(j / 2u)));
    }
    return sum / f32(smp.n);
}

// The code value (8-bit units, unrounded) of a sample.
fn sample_value(smp: Sample) -> f32 {
    let m = sample_rgb(smp);
    if (smp.plane == 0u) {
        return y_value(m);
    }
    return select(cr_value(m), cb_value(m), smp.plane == 1u);
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
            packed = packed | (to_code(sample_value(sample_at(b))) << (8u * k));
        }
    }
    dst[word] = packed;
}

// The 16 pixels of the 8x2 tile at (x0, y0): row 0 then row 1.
fn tile_rgb(x0: i32, y0: i32) -> array<vec3<f32>, 16> {
    var rgb: array<vec3<f32>, 16>;
    for (var i = 0; i < 16; i = i + 1) {
        rgb[i] = rgb_at(vec2<i32>(x0 + i % 8, y0 + i / 8));
    }
    return rgb;
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
    let rgb = tile_rgb(i32(8u * tx), i32(2u * ty));

    var y_top: array<u32, 8>;
    var y_bottom: array<u32, 8>;
    var cb: array<u32, 4>;
    var cr: array<u32, 4>;
    for (var k = 0; k < 4; k = k + 1) {
        let a = rgb[2 * k];
        let b = rgb[2 * k + 1];
        let c = rgb[8 + 2 * k];
        let d = rgb[8 + 2 * k + 1];
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
    var codes: array<u32, 2>;
    for (var k = 0u; k < 2u; k = k + 1u) {
        codes[k] = to_code10(sample_value(sample_at(2u * word + k))) << (6u * params.p010);
    }
    dst[word] = pack2(codes[0], codes[1]);
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
    let rgb = tile_rgb(i32(8u * tx), i32(2u * ty));

    var y_top: array<u32, 8>;
    var y_bottom: array<u32, 8>;
    var cb: array<u32, 4>;
    var cr: array<u32, 4>;
    let shift = 6u * params.p010;
    for (var k = 0; k < 4; k = k + 1) {
        let a = rgb[2 * k];
        let b = rgb[2 * k + 1];
        let c = rgb[8 + 2 * k];
        let d = rgb[8 + 2 * k + 1];
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

// ---- straight RGBA8 ----

// One invocation per pixel: R, G, B, A bytes of one word.
@compute @workgroup_size(64)
fn main_rgba(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = linear_id(gid, groups);
    if (i >= params.n_words) {
        return;
    }
    let w = params.width;
    let c = pixel(vec2<i32>(i32(i % w), i32(i / w)));
    let q = vec4<u32>(clamp(floor(c * 255.0 + 0.5), vec4<f32>(0.0), vec4<f32>(255.0)));
    dst[i] = pack4(q.r, q.g, q.b, q.a);
}
