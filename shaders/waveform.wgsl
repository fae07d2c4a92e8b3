// The frame's audio samples drawn as an antialiased line of a width in pixels, or as the area
// between a centre line and the wave with an optional outline. The whole track's waveform table
// is one storage buffer; per frame only `frame` and the bound parameters change. Each pixel
// measures its distance to the few line segments within reach, so the cost per pixel is bounded
// by the samples per pixel, not by the table's width. Output is premultiplied RGBA.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct WaveformParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: WaveformParams;
@group(0) @binding(1) var<storage, read> wave: array<f32>;

// Scans at most this many segments per pixel (a thick line over a very dense table).
const MAX_SEGMENTS: i32 = 4096;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

fn sample_point(i: i32) -> vec2<f32> {
    let n = i32(u.n_samples);
    let v = clamp(wave[u.frame * u.n_samples + u32(i)] * u.gain, -1.0, 1.0);
    let x = u.left + u.span * f32(i) / f32(max(n - 1, 1));
    return vec2<f32>(x, u.centre + v * u.amplitude);
}

fn segment_distance(p: vec2<f32>, a: vec2<f32>, b: vec2<f32>) -> f32 {
    let ab = b - a;
    let len2 = dot(ab, ab);
    var t = 0.0;
    if (len2 > 0.0) {
        t = clamp(dot(p - a, ab) / len2, 0.0, 1.0);
    }
    return length(p - (a + t * ab));
}

// Distance in pixels from p to the polyline through the samples.
fn wave_distance(p: vec2<f32>, reach: f32) -> f32 {
    let n = i32(u.n_samples);
    if (n < 2) {
        return abs(p.y - sample_point(0).y) + max(abs(p.x - u.left) - 0.5, 0.0);
    }
    let step = u.span / f32(n - 1);
    let first = clamp(i32(floor((p.x - reach - u.left) / step)), 0, n - 2);
    let last = clamp(i32(ceil((p.x + reach - u.left) / step)), 0, n - 2);
    var best = 1e9;
    var a = sample_point(first);
    for (var i = first; i <= min(last, first + MAX_SEGMENTS); i = i + 1) {
        let b = sample_point(i + 1);
        best = min(best, segment_distance(p, a, b));
        a = b;
    }
    return best;
}

// The wave's height in pixels at x, linear between samples.
fn wave_at(x: f32) -> f32 {
    let n = i32(u.n_samples);
    if (n < 2) {
        return sample_point(0).y;
    }
    let s = clamp((x - u.left) / u.span, 0.0, 1.0) * f32(n - 1);
    let i = min(i32(floor(s)), n - 2);
    return mix(sample_point(i).y, sample_point(i + 1).y, s - f32(i));
}

fn premultiplied(c: vec4<f32>, coverage: f32) -> vec4<f32> {
    let a = c.a * clamp(coverage, 0.0, 1.0);
    return vec4<f32>(c.rgb * a, a);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    // Pixel centre in pixels, y up.
    let p = vec2<f32>(pos.x, u.viewport.y - pos.y);
    let half_width = 0.5 * u.thickness;
    // Horizontal coverage of the pixel by the drawn span (soft by half a pixel at each end).
    let inside_x = clamp(min(p.x - u.left, u.left + u.span - p.x) + 0.5, 0.0, 1.0);
    var out = vec4<f32>(0.0);
    if (u.filled == 1u) {
        let y = wave_at(p.x);
        let lo = min(u.centre, y);
        let hi = max(u.centre, y);
        let cover = clamp(min(p.y - lo, hi - p.y) + 0.5, 0.0, 1.0) * inside_x;
        out = premultiplied(u.fill_color, cover);
    }
    if (u.thickness > 0.0) {
        let d = wave_distance(p, half_width + 1.0);
        let line = premultiplied(u.color, half_width + 0.5 - d);
        // The outline goes over the fill (premultiplied source-over).
        out = line + out * (1.0 - line.a);
    }
    return out;
}
