// Depth-tested point splatting in compute, for large per-frame point clouds.
//
// Software rasterizers spend most of their time per triangle, and a point drawn as a sprite costs
// two. Here each point is projected once and written straight into a per-pixel buffer as a disc of
// `radius` pixels, in one pass:
//   splat: each covered pixel takes atomicMax(key), key = depth level << index_bits | (index + 1),
//          where the depth level runs from 0 (far end of the cloud) to all ones (near end), so the
//          nearest point wins and, within one depth level, the highest index; the result never
//          depends on the order threads run in;
//   vs_resolve/fs_resolve: a full-screen triangle turns each pixel's key into its point's colour
//          (premultiplied; transparent where no point landed) and clears the key for the next frame.
// Depth levels are linear in view depth between depth_near and depth_far (the cloud's extent seen
// from the camera), 2^(32 - index_bits) of them: 4096 across the cloud at a million points.

struct Splat {
    view_proj: mat4x4<f32>,
    viewport: vec2<f32>,
    radius: f32,
    brightness: f32,
    count: u32,
    stride: u32,        // invocations per row of the dispatch grid (workgroups in x * 64)
    width: u32,
    height: u32,
    depth_near: f32,    // view depth mapped to the highest level
    depth_far: f32,     // view depth mapped to level 0
    index_bits: u32,
    depth_levels: f32,  // 2^(32 - index_bits) - 1
};

@group(0) @binding(0) var<uniform> u: Splat;
@group(0) @binding(1) var<storage, read> positions: array<f32>;  // x, y, z per point, packed
@group(0) @binding(2) var<storage, read_write> keys: array<atomic<u32>>;

@compute @workgroup_size(64)
fn splat(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * u.stride;
    if (i >= u.count) {
        return;
    }
    let p = vec3<f32>(positions[3u * i], positions[3u * i + 1u], positions[3u * i + 2u]);
    let clip = u.view_proj * vec4<f32>(p, 1.0);
    if (clip.w <= 0.0) {
        return;
    }
    let ndc = clip.xyz / clip.w;
    if (ndc.z < 0.0 || ndc.z > 1.0) {
        return;
    }
    let cx = (ndc.x * 0.5 + 0.5) * u.viewport.x;
    let cy = (0.5 - ndc.y * 0.5) * u.viewport.y;
    let r = u.radius;
    let x0 = max(i32(floor(cx - r)), 0);
    let x1 = min(i32(floor(cx + r)), i32(u.width) - 1);
    let y0 = max(i32(floor(cy - r)), 0);
    let y1 = min(i32(floor(cy + r)), i32(u.height) - 1);
    let nearness = clamp((u.depth_far - clip.w) / (u.depth_far - u.depth_near), 0.0, 1.0);
    let level = u32(nearness * u.depth_levels + 0.5);
    let key = (level << u.index_bits) | (i + 1u);
    let own_x = i32(floor(cx));
    let own_y = i32(floor(cy));
    for (var y = y0; y <= y1; y++) {
        let dy = f32(y) + 0.5 - cy;
        for (var x = x0; x <= x1; x++) {
            let dx = f32(x) + 0.5 - cx;
            // covered: the pixel's centre is within the radius, or the pixel holds the point itself,
            // so points smaller than a pixel do not vanish
            if (dx * dx + dy * dy <= r * r || (x == own_x && y == own_y)) {
                let pixel = u32(y) * u.width + u32(x);
                if (atomicLoad(&keys[pixel]) < key) {
                    atomicMax(&keys[pixel], key);
                }
            }
        }
    }
}

@group(0) @binding(3) var<storage, read_write> resolved: array<u32>;  // the keys, reset here
@group(0) @binding(4) var<storage, read> colors: array<u32>;

@vertex
fn vs_resolve(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    // one triangle that covers the whole target
    let xy = vec2<f32>(f32((vi << 1u) & 2u), f32(vi & 2u));
    return vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_resolve(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let pixel = u32(pos.y) * u.width + u32(pos.x);
    let key = resolved[pixel];
    if (key == 0u) {
        return vec4<f32>(0.0);
    }
    resolved[pixel] = 0u;
    let index = (key & ((1u << u.index_bits) - 1u)) - 1u;
    let c = unpack4x8unorm(colors[index]);
    return vec4<f32>(min(c.rgb * u.brightness, vec3<f32>(1.0)) * c.a, c.a);
}
