// The frame's audio samples drawn as a line of a width in pixels, or as the area between a centre
// line and the wave with an optional outline; anti-aliased (the default) from each pixel's distance
// to the line and the area's edges, or hard (a pixel is drawn when its centre is). The whole track's waveform table
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

// Drawn as columns (the default): one quad per segment, spanning the segment's pixel columns from
// below to above every pixel the line or the fill can touch there, so that only pixels near the
// wave are shaded; a software rasterizer pays for every pixel a fullscreen triangle covers (about
// 65 ms of CPU a 1080p frame for a line across the frame). The columns share their vertical edges
// exactly, so every pixel is shaded at most once (one fragment per pixel, as before), and a pixel
// outside them is one the fullscreen pass gave no coverage. Off: the fullscreen triangle (the
// reference the tests compare with).
override COLUMNS: bool = true;

fn ndc(p: vec2<f32>) -> vec4<f32> {
    // pixels, y up -> clip space
    return vec4<f32>(p / u.viewport * 2.0 - 1.0, 0.0, 1.0);
}

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, @builtin(instance_index) column: u32) -> @builtin(position) vec4<f32> {
    let n = i32(u.n_samples);
    if (!COLUMNS || n < 2) {
        if (column > 0u || vi > 2u) {
            return vec4<f32>(2.0, 2.0, 2.0, 1.0);  // outside the clip volume
        }
        return fullscreen_position(vi);
    }
    let step = u.span / f32(n - 1);
    let half_width = 0.5 * u.thickness;
    let reach = half_width + 1.0;  // as fs_main's wave_distance
    let pad = half_width + 1.5;  // a round cap, and the soft end of the span
    let k = i32(column);
    var xa = u.left + step * f32(k);
    var xb = u.left + step * f32(k + 1);
    if (k == 0) {
        xa = u.left - pad;
    }
    if (k == n - 2) {
        xb = u.left + u.span + pad;
    }
    // Every segment any pixel of the column measures its distance to (wave_distance's window).
    let first = clamp(i32(floor((xa - reach - u.left) / step)), 0, n - 2);
    let last = clamp(i32(ceil((xb + reach - u.left) / step)), 0, n - 2);
    var low = sample_point(first).y;
    var high = low;
    for (var i = first + 1; i <= last + 1; i = i + 1) {
        let y = sample_point(i).y;
        low = min(low, y);
        high = max(high, y);
    }
    if (u.filled == 1u) {
        low = min(low, u.centre);
        high = max(high, u.centre);
    }
    low -= pad;
    high += pad;
    let corner = array<vec2<f32>, 6>(vec2<f32>(xa, low), vec2<f32>(xb, low), vec2<f32>(xb, high),
                                     vec2<f32>(xa, low), vec2<f32>(xb, high), vec2<f32>(xa, high));
    return ndc(corner[vi]);
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

// The share of a pixel (centred at distance `a` inside one edge of a band and `b` inside the
// opposite edge, in pixels) that lies within the band: exact for a band straight across the pixel.
fn band_cover(a: f32, b: f32) -> f32 {
    return clamp(min(a, 0.5) + min(b, 0.5), 0.0, 1.0);
}

// 1 where `inside` (a distance inside an edge, in pixels) is not negative, else 0: hard edges.
fn hard(inside: f32) -> f32 {
    return select(0.0, 1.0, inside >= 0.0);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    // Pixel centre in pixels, y up.
    let p = vec2<f32>(pos.x, u.viewport.y - pos.y);
    let half_width = 0.5 * u.thickness;
    let aa = u.antialias != 0u;
    // Inside the drawn span (anti-aliased: soft by half a pixel at each end).
    let span_inside = min(p.x - u.left, u.left + u.span - p.x);
    let inside_x = select(hard(span_inside), clamp(span_inside + 0.5, 0.0, 1.0), aa);
    // Distance to the wave's line, where the line or an anti-aliased fill's edge needs it.
    var d = 1e9;
    if (u.thickness > 0.0 || (aa && u.filled == 1u)) {
        d = wave_distance(p, half_width + 1.0);
    }
    var out = vec4<f32>(0.0);
    if (u.filled == 1u) {
        let y = wave_at(p.x);
        var cover = hard(min(p.y - min(u.centre, y), max(u.centre, y) - p.y));
        if (aa) {
            // The band between the centre line and the wave: the pixel's distance inside the centre
            // line (on the wave's side of it) and inside the wave (towards the centre), in pixels.
            let side = select(-1.0, 1.0, y >= u.centre);
            let from_centre = (p.y - u.centre) * side;
            let to_wave = select(-d, d, (y - p.y) * side >= 0.0);
            cover = band_cover(from_centre, to_wave);
        }
        out = premultiplied(u.fill_color, cover * inside_x);
    }
    if (u.thickness > 0.0) {
        let line = premultiplied(u.color, select(hard(half_width - d), half_width + 0.5 - d, aa));
        // The outline goes over the fill (premultiplied source-over).
        out = line + out * (1.0 - line.a);
    }
    return out * u.opacity;
}
