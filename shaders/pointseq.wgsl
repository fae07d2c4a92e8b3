// Depth-tested point splatting in compute, for large per-frame point clouds.
//
// Software rasterizers spend most of their time per triangle; a point drawn as a two-triangle
// sprite costs two. Here each point is projected once per pass and written straight into a
// per-pixel buffer as a small disc of `radius` pixels:
//   splat_depth: atomicMax of the nearest depth per pixel (key = ~bits(depth), nearer = larger);
//   splat_index: each point whose key equals the pixel's winning key stores index + 1 (atomicMax,
//                so ties go to the highest index and the result never depends on thread order);
//   vs_resolve/fs_resolve: a full-screen triangle turns the winning index into its colour,
//                premultiplied, transparent where no point landed.
// Both buffers are cleared to zero before the first pass (zero = empty).

struct Splat {
    view_proj: mat4x4<f32>,
    viewport: vec2<f32>,
    radius: f32,
    brightness: f32,
    count: u32,
    stride: u32,   // invocations per row of the dispatch grid (workgroups in x * 64)
    width: u32,
    height: u32,
};

@group(0) @binding(0) var<uniform> u: Splat;
@group(0) @binding(1) var<storage, read> positions: array<f32>;  // x, y, z per point, packed
@group(0) @binding(2) var<storage, read_write> depth: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> winner: array<atomic<u32>>;

struct Footprint {
    key: u32,
    x0: i32,
    x1: i32,
    y0: i32,
    y1: i32,
    cx: f32,
    cy: f32,
    visible: bool,
};

fn footprint(i: u32) -> Footprint {
    var f: Footprint;
    f.visible = false;
    let p = vec3<f32>(positions[3u * i], positions[3u * i + 1u], positions[3u * i + 2u]);
    let clip = u.view_proj * vec4<f32>(p, 1.0);
    if (clip.w <= 0.0) {
        return f;
    }
    let ndc = clip.xyz / clip.w;
    if (ndc.z < 0.0 || ndc.z > 1.0) {
        return f;
    }
    f.cx = (ndc.x * 0.5 + 0.5) * u.viewport.x;
    f.cy = (0.5 - ndc.y * 0.5) * u.viewport.y;
    let r = u.radius;
    f.x0 = max(i32(floor(f.cx - r)), 0);
    f.x1 = min(i32(floor(f.cx + r)), i32(u.width) - 1);
    f.y0 = max(i32(floor(f.cy - r)), 0);
    f.y1 = min(i32(floor(f.cy + r)), i32(u.height) - 1);
    f.key = ~bitcast<u32>(ndc.z);
    f.visible = f.x0 <= f.x1 && f.y0 <= f.y1;
    return f;
}

// A pixel is covered when its centre lies within the radius, and the pixel holding the point
// always is, so points smaller than a pixel do not vanish.
fn covers(f: Footprint, x: i32, y: i32) -> bool {
    let dx = f32(x) + 0.5 - f.cx;
    let dy = f32(y) + 0.5 - f.cy;
    let own = x == i32(floor(f.cx)) && y == i32(floor(f.cy));
    return own || dx * dx + dy * dy <= u.radius * u.radius;
}

@compute @workgroup_size(64)
fn splat_depth(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * u.stride;
    if (i >= u.count) {
        return;
    }
    let f = footprint(i);
    if (!f.visible) {
        return;
    }
    for (var y = f.y0; y <= f.y1; y++) {
        for (var x = f.x0; x <= f.x1; x++) {
            let pixel = u32(y) * u.width + u32(x);
            if (covers(f, x, y) && atomicLoad(&depth[pixel]) < f.key) {
                atomicMax(&depth[pixel], f.key);
            }
        }
    }
}

@compute @workgroup_size(64)
fn splat_index(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * u.stride;
    if (i >= u.count) {
        return;
    }
    let f = footprint(i);
    if (!f.visible) {
        return;
    }
    for (var y = f.y0; y <= f.y1; y++) {
        for (var x = f.x0; x <= f.x1; x++) {
            let pixel = u32(y) * u.width + u32(x);
            if (covers(f, x, y) && atomicLoad(&depth[pixel]) == f.key) {
                atomicMax(&winner[pixel], i + 1u);
            }
        }
    }
}

@group(0) @binding(4) var<storage, read> winner_read: array<u32>;
@group(0) @binding(5) var<storage, read> colors: array<u32>;

@vertex
fn vs_resolve(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    // one triangle that covers the whole target
    let xy = vec2<f32>(f32((vi << 1u) & 2u), f32(vi & 2u));
    return vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_resolve(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let w = winner_read[u32(pos.y) * u.width + u32(pos.x)];
    if (w == 0u) {
        return vec4<f32>(0.0);
    }
    let c = unpack4x8unorm(colors[w - 1u]);
    return vec4<f32>(min(c.rgb * u.brightness, vec3<f32>(1.0)) * c.a, c.a);
}
