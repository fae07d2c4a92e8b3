// Live particles drawn as round, soft-edged sprites whose size and colour follow their age: each
// particle is an instance of a 6-vertex quad sized in pixels; dead or unused slots are moved
// outside the clip volume. Output is premultiplied RGBA.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct Particle"

//#include "struct ParticlesDraw"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: ParticlesDraw;
@group(0) @binding(1) var<storage, read> particles: array<Particle>;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) color: vec4<f32>,
};

const CORNERS = array<vec2<f32>, 6>(
    vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
    vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, 1.0), vec2<f32>(-1.0, 1.0),
);

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, @builtin(instance_index) ii: u32) -> VsOut {
    var out: VsOut;
    let p = particles[ii];
    let corner = CORNERS[vi];
    out.corner = corner;
    var clip = u.view_proj * vec4<f32>(p.pos, 1.0);
    if (p.life <= 0.0 || p.age >= p.life || clip.w <= 0.0) {
        out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
        out.color = vec4<f32>(0.0);
        return out;
    }
    let t = clamp(p.age / p.life, 0.0, 1.0);
    let size = max(u.size * mix(1.0, u.size_end, t), 0.0);
    clip = vec4<f32>(clip.xy + corner * (size / u.viewport) * clip.w, clip.zw);
    out.position = clip;
    out.color = mix(u.color, u.color_end, t);
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let d = length(in.corner);
    if (d > 1.0) {
        discard;
    }
    var edge = 1.0;
    if (u.softness > 0.0) {  // smoothstep with equal edges is undefined
        edge = 1.0 - smoothstep(1.0 - min(u.softness, 1.0), 1.0, d);
    }
    let a = clamp(in.color.a, 0.0, 1.0) * edge;
    return vec4<f32>(min(in.color.rgb * u.brightness, vec3<f32>(1.0)) * a, a);
}
