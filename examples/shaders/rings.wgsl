// Concentric rings for gpurender's `shader` layer (see examples/shader.toml).
// inputs.params.x: how far the rings swell (bound to the bass in the scene)
// inputs.params.y: ring count across the frame's height
// inputs.phase:    the rings' travel, advancing faster when the track is loud

fn palette(t: f32) -> vec3<f32> {
    return 0.5 + 0.5 * cos(6.28318 * (vec3<f32>(0.0, 0.33, 0.67) + t));
}

fn shade(uv: vec2<f32>, px: vec2<f32>) -> vec4<f32> {
    let aspect = inputs.resolution.x / inputs.resolution.y;
    let p = vec2<f32>((uv.x - 0.5) * aspect, uv.y - 0.5);
    let r = length(p) / (1.0 + inputs.params.x);
    let rings = 0.5 + 0.5 * sin(r * inputs.params.y * 6.28318 - inputs.phase * 3.0);
    // Tint by the band under this ring: low bands in the middle, high ones outside.
    let b = band(u32(clamp(r * 2.0, 0.0, 1.0) * f32(band_count() - 1u)));
    let glow = smoothstep(0.6, 1.0, rings) * (0.3 + b);
    return vec4<f32>(palette(r + 0.2 * features.beat) * glow, 1.0);
}
