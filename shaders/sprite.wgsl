// Round, soft-edged sprites of a size in pixels: what the points and particles layers share
// (points.wgsl, particles_draw.wgsl). Each sprite is a quad whose vertices carry their corner in
// -1..1; a fragment's distance from the sprite's centre is the length of the interpolated corner,
// 1 on the rim. Output is premultiplied RGBA.
//
// Anti-aliasing: a hard edge (softness 0) is weighted by the share of the pixel inside the rim,
// from the pixel's distance to the rim in pixels, so the quad grows by half a pixel each side to
// reach the rim's partly covered pixels (sprite_grow); corners then run past 1. A soft edge fades
// over the outer `softness` of the radius as before.

struct SpriteVertex {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) @interpolate(flat) color: vec4<f32>,  // straight RGBA, the same at every corner
    @location(2) @interpolate(flat) radius: f32,  // pixels
};

// The clip position of a sprite's `corner`: its centre's clip position `center` moved by half the
// sprite's `size` in pixels, which is size / viewport in normalised device units.
fn sprite_corner(center: vec4<f32>, corner: vec2<f32>, size: f32, viewport: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(center.xy + corner * (size / viewport) * center.w, center.zw);
}

// How much a sprite's quad (and so its corners) is scaled: 1, or half a pixel more each side for
// an anti-aliased hard edge.
fn sprite_grow(size: f32, softness: f32, antialias: u32) -> f32 {
    if (antialias == 0u || softness > 0.0 || size <= 0.0) {
        return 1.0;
    }
    return (size + 1.0) / size;
}

// Coverage at distance `d` from the centre (in radii; the sprite's radius is `radius` pixels): 1
// inside, fading to 0 at the rim over the outer `softness` fraction of the radius (0..1). Softness
// 0 is a hard edge: anti-aliased, the share of the pixel inside the rim (a sprite under a pixel
// wide also loses what it lacks of one), else 1 up to the rim and 0 past it. (Softness 0 cannot
// use smoothstep: equal edges are undefined, 0 / 0 on the rim. `max(1 - softness, 0)` rather than
// the equal `1 - min(softness, 1)`: on lavapipe the latter shifts a pixel of the points layer by a
// level.)
fn sprite_edge(d: f32, softness: f32, radius: f32, antialias: u32) -> f32 {
    if (softness <= 0.0) {
        if (antialias == 0u) {
            return select(0.0, 1.0, d <= 1.0);
        }
        return clamp((1.0 - d) * radius + 0.5, 0.0, 1.0) * min(2.0 * radius, 1.0);
    }
    return 1.0 - smoothstep(max(1.0 - softness, 0.0), 1.0, d);
}

// Straight `color` with its RGB multiplied by `brightness` (at most 1), at `coverage`, premultiplied.
fn sprite_color(color: vec4<f32>, brightness: f32, coverage: f32) -> vec4<f32> {
    let a = clamp(color.a, 0.0, 1.0) * coverage;
    return vec4<f32>(min(color.rgb * brightness, vec3<f32>(1.0)) * a, a);
}
