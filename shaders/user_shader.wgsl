// What a `shader` layer puts before the user's WGSL: the inputs it may read and the entry points
// that call the user's `shade` function for every pixel. On its own this file lacks `shade`; the
// user's file completes it (WGSL declarations may come in any order).
//
// The user writes:
//     fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32>
// uv is the pixel centre in 0..1 (y up); px is the same in pixels (origin at the bottom left,
// centres at .5). It returns straight (not premultiplied) RGBA in 0..1.
// It may read:
//     inputs.resolution  vec2<f32>  output size in pixels
//     inputs.time        f32        the frame's time in seconds (frame / fps)
//     inputs.frame       u32        the frame's index in the track
//     inputs.fps         f32
//     inputs.phase       f32        integral of the layer's `speed` parameter over time
//     inputs.params      vec4<f32>  the layer's param1..param4
//     features.bass, .mid, .treble, .rms, .peak, .centroid (Hz), .flux, .onset, .beat,
//             .tempo (BPM), .beat_phase, .downbeat  (f32; gpurender.audio.features.FEATURES)
//     band(i), band_count()       the frame's log-spaced band levels in 0..1
//     wave(i), wave_count()       the frame's audio samples in -1..1
// Names starting with `gpurender_`, and `fullscreen_position`, are reserved.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct ShaderInputs"

//#include "struct AudioFeatures"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> inputs: ShaderInputs;
@group(0) @binding(1) var<storage, read> features: AudioFeatures;
@group(0) @binding(2) var<storage, read> gpurender_bands: array<f32>;
@group(0) @binding(3) var<storage, read> gpurender_wave: array<f32>;

fn band_count() -> u32 {
    return inputs.gpurender_n_bands;
}

fn band(i: u32) -> f32 {
    let n = inputs.gpurender_n_bands;
    return gpurender_bands[inputs.gpurender_row * n + min(i, n - 1u)];
}

fn wave_count() -> u32 {
    return inputs.gpurender_n_wave;
}

fn wave(i: u32) -> f32 {
    let n = inputs.gpurender_n_wave;
    return gpurender_wave[inputs.gpurender_row * n + min(i, n - 1u)];
}

@vertex
fn gpurender_vs(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

@fragment
fn gpurender_fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let px = vec2<f32>(pos.x, inputs.resolution.y - pos.y);
    let c = clamp(shade(px / inputs.resolution, px), vec4<f32>(0.0), vec4<f32>(1.0));
    return vec4<f32>(c.rgb * c.a, c.a);
}
// ---- the user's shader follows ----
