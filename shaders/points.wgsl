// Point clouds drawn as round sprites (draw = "blend" and "additive"; "depth" is the compute splat of
// pointseq.wgsl): each point is one triangle around a quad whose size is given in pixels (WebGPU's
// point primitive is always 1 px). Output is premultiplied RGBA. The sprite itself (corner
// placement, edge, colour) is sprite.wgsl, shared with particles_draw.wgsl.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct PointsParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: PointsParams;
@group(0) @binding(1) var<storage, read> positions: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> colors: array<u32>;

//#include "sprite.wgsl"

// One triangle per point, not instanced: the equilateral triangle around the sprite's rim (its
// incircle is the unit circle: corners (0, 2), (+-sqrt(3), -1)). The fragment stage discards what
// lies past the rim, so the pixels drawn are those of a quad around it. On a software rasterizer a
// small sprite's cost is its triangle set-up (about 1 us at 720p, whatever its size): one triangle
// and three vertices instead of an instanced strip of two triangles and four halve it.
const CORNERS = array<vec2<f32>, 3>(
    vec2<f32>(0.0, 2.0), vec2<f32>(-1.7320508, -1.0), vec2<f32>(1.7320508, -1.0),
);

@vertex
fn vs_main(@builtin(vertex_index) v: u32) -> SpriteVertex {
    var out: SpriteVertex;
    let ii = v / 3u;
    let corner = CORNERS[v % 3u];
    // Two matrix-vector products, not a matrix-matrix one per vertex.
    var clip = u.view_proj * (u.model * vec4<f32>(positions[ii].xyz, 1.0));
    if (clip.w <= 0.0) {
        // Behind the camera: move the whole triangle outside the clip volume.
        clip = vec4<f32>(2.0, 2.0, 2.0, 1.0);
    }
    let grow = sprite_grow(u.size, u.softness, u.antialias);
    out.position = sprite_corner(clip, corner * grow, u.size, u.viewport);
    out.corner = corner * grow;
    sprite_flat(&out, unpack4x8unorm(colors[ii]), u.size, u.softness, u.brightness, u.antialias);
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
