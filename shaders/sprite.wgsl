// Round, soft-edged sprites of a size in pixels: what the points and particles layers share
// (points.wgsl, particles_draw.wgsl). Each sprite is one triangle around its rim (its corners at
// twice the radius) whose vertices carry their corner in radii; a fragment's distance from the
// sprite's centre is the length of the interpolated corner, 1 on the rim. Output is premultiplied
// RGBA.
//
// Anti-aliasing: a hard edge (softness 0) is weighted by the share of the pixel inside the rim,
// from the pixel's distance to the rim in pixels, so the quad grows by half a pixel each side to
// reach the rim's partly covered pixels (sprite_grow); the corners then reach further. A soft edge fades
// over the outer `softness` of the radius as before.

// Everything the fragment stage needs is worked out once per sprite in the vertex stage
// (sprite_flat) and handed on as flat values: on a software rasterizer every parameter a fragment
// reads from a storage buffer is a bounds-checked load per fragment, and the fragment stage was
// two thirds of a small sprite's cost (20,000 sprites at 720p: 28 -> 24 ms of CPU without them).
struct SpriteVertex {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    // min(RGB * brightness, 1) and the alpha clamped to 0..1: straight, the same at every corner
    @location(1) @interpolate(flat) color: vec4<f32>,
    // x: radius in pixels; y: where a soft edge starts (1 - softness, at least 0); z: the edge, 0
    // soft, 1 hard and anti-aliased, 2 hard; w: the share of a pixel a sprite under one pixel wide keeps
    @location(2) @interpolate(flat) edge: vec4<f32>,
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

// The flat values of a sprite `size` pixels wide in straight `color` (see SpriteVertex).
// (`max(1 - softness, 0)` rather than the equal `1 - min(softness, 1)`: on lavapipe the latter
// shifts a pixel of the points layer by a level.)
fn sprite_flat(out: ptr<function, SpriteVertex>, color: vec4<f32>, size: f32, softness: f32, brightness: f32,
               antialias: u32) {
    let radius = 0.5 * size;
    var edge = 0.0;
    if (softness <= 0.0) {
        edge = select(2.0, 1.0, antialias != 0u);
    }
    (*out).color = vec4<f32>(min(color.rgb * brightness, vec3<f32>(1.0)), clamp(color.a, 0.0, 1.0));
    (*out).edge = vec4<f32>(radius, max(1.0 - softness, 0.0), edge, min(2.0 * radius, 1.0));
}

// The premultiplied paint of a sprite's fragment at `corner` (its distance from the centre, in
// radii, is the corner's length: 1 on the rim), with a negative alpha where the fragment is to be
// discarded. Coverage: 1 inside, fading to 0 at the rim over the outer `softness` of the radius; a
// hard edge (softness 0) anti-aliased is the share of the pixel inside the rim (a sprite under a
// pixel wide also loses what it lacks of one), else 1 up to the rim and 0 past it. All three are
// worked out and one is picked (no branch: a software rasterizer runs every side of a branch on
// values it cannot see are the same). Softness 0 cannot use smoothstep, whose equal edges are 0 / 0
// on the rim: that value is not picked then. (A softness under about 3e-8 rounds 1 - softness to 1
// and does pick it, as before these were flat values; where a driver made it NaN, the fragment is
// discarded, since NaN > 0 is false.)
fn sprite_paint(corner: vec2<f32>, color: vec4<f32>, edge: vec4<f32>) -> vec4<f32> {
    let d = length(corner);
    let soft = 1.0 - smoothstep(edge.y, 1.0, d);
    let smooth_hard = clamp((1.0 - d) * edge.x + 0.5, 0.0, 1.0) * edge.w;
    let hard = select(0.0, 1.0, d <= 1.0);
    let coverage = select(select(hard, smooth_hard, edge.z < 1.5), soft, edge.z < 0.5);
    let a = color.a * coverage;
    return vec4<f32>(color.rgb * a, select(-1.0, a, coverage > 0.0));
}
