// Live particles drawn as round, soft-edged sprites whose size and colour follow their age: each
// particle is one triangle around a quad sized in pixels; dead or unused slots are moved
// outside the clip volume. Output is premultiplied RGBA. The sprite itself is sprite.wgsl, shared
// with points.wgsl.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct Particle"

//#include "struct ParticlesDraw"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: ParticlesDraw;
@group(0) @binding(1) var<storage, read> particles: array<Particle>;

//#include "sprite.wgsl"

// One triangle per particle, not instanced: the equilateral triangle around the sprite's rim, as
// points.wgsl draws (a small sprite's cost on a software rasterizer is its triangle set-up).
const CORNERS = array<vec2<f32>, 3>(
    vec2<f32>(0.0, 2.0), vec2<f32>(-1.7320508, -1.0), vec2<f32>(1.7320508, -1.0),
);

@vertex
fn vs_main(@builtin(vertex_index) v: u32) -> SpriteVertex {
    var out: SpriteVertex;
    let p = particles[v / 3u];
    let corner = CORNERS[v % 3u];
    out.corner = corner;
    var clip = u.view_proj * vec4<f32>(p.pos, 1.0);
    if (p.life <= 0.0 || p.age >= p.life || clip.w <= 0.0) {
        out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
        out.color = vec4<f32>(0.0);
        out.edge = vec4<f32>(0.0);
        return out;
    }
    let t = clamp(p.age / p.life, 0.0, 1.0);
    let size = max(u.size * mix(1.0, u.size_end, t), 0.0);
    let grow = sprite_grow(size, u.softness, u.antialias);
    out.position = sprite_corner(clip, corner * grow, size, u.viewport);
    out.corner = corner * grow;
    sprite_flat(&out, mix(u.color, u.color_end, t), size, u.softness, u.brightness, u.antialias);
    return out;
}

@fragment
fn fs_main(in: SpriteVertex) -> @location(0) vec4<f32> {
    let paint = sprite_paint(in.corner, in.color, in.edge);
    if (paint.a < 0.0) {
        discard;
    }
    return paint;
}
