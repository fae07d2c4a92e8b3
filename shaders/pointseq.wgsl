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
//          (premultiplied; transparent where no point landed) and clears the key for the next frame
//          (the `pointseq` layer); or the direct I420 passes further down (point-cloud exports).
// Depth levels are linear in view depth between depth_near and depth_far (the cloud's extent seen
// from the camera), 2^(32 - index_bits) of them: 4096 across the cloud at a million points.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct SplatParams"

// Read a pixel's key before the atomicMax, skipping it when a nearer point is there already: on a
// GPU this spares contended atomics where many points land on one pixel; a software adapter runs
// atomics lane by lane anyway, and the extra read only costs it (about 10% of the splat).
override LOAD_FIRST: bool = true;

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: SplatParams;
@group(0) @binding(1) var<storage, read> positions: array<f32>;  // x, y, z per point, packed
@group(0) @binding(2) var<storage, read_write> keys: array<atomic<u32>>;

// For the direct I420 resolve: the splat lists every 8x2 tile a point touches, once, so only
// those tiles are resolved (the rest of the frame is the background, copied in whole).
@group(0) @binding(9) var<storage, read_write> tile_flags: array<atomic<u32>>;  // 1 = listed
@group(0) @binding(10) var<storage, read_write> tile_list: array<u32>;
// indirect dispatch arguments (x, y, z) of the resolve, then the number of listed tiles
@group(0) @binding(11) var<storage, read_write> tile_dispatch: array<atomic<u32>, 4>;

fn mark_tiles(x0: i32, x1: i32, y0: i32, y1: i32) {
    if (x0 > x1 || y0 > y1) {
        return;  // off the frame
    }
    let tiles_x = u.width / 8u;
    for (var ty = y0 / 2; ty <= y1 / 2; ty++) {
        for (var tx = x0 / 8; tx <= x1 / 8; tx++) {
            let t = u32(ty) * tiles_x + u32(tx);
            if (atomicLoad(&tile_flags[t]) == 0u && atomicExchange(&tile_flags[t], 1u) == 0u) {
                tile_list[atomicAdd(&tile_dispatch[3], 1u)] = t;
            }
        }
    }
}

// Splats point i; returns the pixel range it may cover (x0, x1, y0, y1), empty when it covers none.
fn splat_point(i: u32) -> vec4<i32> {
    let none = vec4<i32>(0, -1, 0, -1);
    let p = vec3<f32>(positions[3u * i], positions[3u * i + 1u], positions[3u * i + 2u]);
    let clip = u.view_proj * vec4<f32>(p, 1.0);
    if (clip.w <= 0.0) {
        return none;
    }
    let ndc = clip.xyz / clip.w;
    if (ndc.z < 0.0 || ndc.z > 1.0) {
        return none;
    }
    let cx = (ndc.x * 0.5 + 0.5) * u.viewport.x;
    let cy = (0.5 - ndc.y * 0.5) * u.viewport.y;
    let r = u.radius;
    let own_x = i32(floor(cx));
    let own_y = i32(floor(cy));
    // the pixels whose centres (x + 0.5, y + 0.5) can be within r, and the point's own pixel
    let x0 = max(min(i32(ceil(cx - 0.5 - r)), own_x), 0);
    let x1 = min(max(i32(floor(cx - 0.5 + r)), own_x), i32(u.width) - 1);
    let y0 = max(min(i32(ceil(cy - 0.5 - r)), own_y), 0);
    let y1 = min(max(i32(floor(cy - 0.5 + r)), own_y), i32(u.height) - 1);
    let nearness = clamp((u.depth_far - clip.w) / (u.depth_far - u.depth_near), 0.0, 1.0);
    let level = u32(nearness * u.depth_levels + 0.5);
    let key = (level << u.index_bits) | (i + 1u);
    for (var y = y0; y <= y1; y++) {
        let dy = f32(y) + 0.5 - cy;
        for (var x = x0; x <= x1; x++) {
            let dx = f32(x) + 0.5 - cx;
            // covered: the pixel's centre is within the radius, or the pixel holds the point itself,
            // so points smaller than a pixel do not vanish
            if (dx * dx + dy * dy <= r * r || (x == own_x && y == own_y)) {
                let pixel = u32(y) * u.width + u32(x);
                if (!LOAD_FIRST || atomicLoad(&keys[pixel]) < key) {
                    atomicMax(&keys[pixel], key);
                }
            }
        }
    }
    return vec4<i32>(x0, x1, y0, y1);
}

@compute @workgroup_size(64)
fn splat(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * u.stride;
    if (i < u.count) {
        _ = splat_point(i);
    }
}

@compute @workgroup_size(64)
fn splat_listed(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * u.stride;
    if (i < u.count) {
        let r = splat_point(i);
        mark_tiles(r.x, r.y, r.z, r.w);
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

// ---------------------------------------------------------------------------------------------
// Direct I420 output, for point-cloud exports whose width is a multiple of 8 (pointvideo.py).
// One invocation owns one 8x2 pixel tile: it turns each pixel's key into its point's colour over
// the opaque background, optionally lays the title's coverage over that in the title colour, and
// writes the tile's Y, U and V bytes straight into the I420 buffer (layout and code values of
// rgba_to_yuv.wgsl). Per frame: splat_listed (keys and the list of touched tiles), tile_groups,
// resolve_listed over those tiles into a copy of the background frame, title_i420 over the tiles
// under the title; the keys and the list are then cleared by clear_buffer. resolve_i420 resolves
// every tile: once for the background frame, and for frames too large for the tile list.
// This replaces the layer textures, the compositor and the separate colour conversion, whose fixed
// cost per frame outweighs drawing 10,000 points on a software adapter.

//#include "yuv_codes.wgsl"

//#include "struct I420Video"

@group(0) @binding(5) var<storage, read> video: I420Video;
@group(0) @binding(6) var<storage, read_write> i420: array<u32>;
@group(0) @binding(7) var<storage, read> title: array<u32>;  // coverage bytes, row by row
@group(0) @binding(8) var<storage, read> keys4: array<vec4<u32>>;  // the keys, four pixels a load

// One pixel's colour: its point's over the background, then the title's coverage over that.
fn video_pixel(key: u32, x: i32, y: i32, titled: bool) -> vec3<f32> {
    var rgb = video.background.rgb;
    if (key != 0u) {
        let c = unpack4x8unorm(colors[(key & ((1u << u.index_bits) - 1u)) - 1u]);
        rgb = mix(rgb, min(c.rgb * u.brightness, vec3<f32>(1.0)), c.a);
    }
    if (titled) {
        let t = vec2<i32>(x, y) - video.title_rect.xy;
        if (all(t >= vec2<i32>(0)) && all(t < video.title_rect.zw)) {
            let word = title[u32(t.y) * video.title_stride + u32(t.x) / 4u];
            let coverage = f32((word >> (8u * (u32(t.x) % 4u))) & 255u) / 255.0;
            rgb = mix(rgb, video.title_color.rgb, coverage * video.title_color.a);
        }
    }
    return rgb;
}

// A 4x2 block from the keys of its two rows: (top Y word, bottom Y word, two Cb bytes, two Cr bytes).
// Straight-line code: a software adapter runs it as SIMD lanes without stack arrays.
fn video_block(top: vec4<u32>, bottom: vec4<u32>, x: i32, y: i32, titled: bool) -> vec4<u32> {
    let a0 = video_pixel(top.x, x, y, titled);
    let a1 = video_pixel(top.y, x + 1, y, titled);
    let a2 = video_pixel(top.z, x + 2, y, titled);
    let a3 = video_pixel(top.w, x + 3, y, titled);
    let b0 = video_pixel(bottom.x, x, y + 1, titled);
    let b1 = video_pixel(bottom.y, x + 1, y + 1, titled);
    let b2 = video_pixel(bottom.z, x + 2, y + 1, titled);
    let b3 = video_pixel(bottom.w, x + 3, y + 1, titled);
    let m0 = 0.25 * (a0 + a1 + b0 + b1);
    let m1 = 0.25 * (a2 + a3 + b2 + b3);
    return vec4<u32>(
        pack4(y_code(a0), y_code(a1), y_code(a2), y_code(a3)),
        pack4(y_code(b0), y_code(b1), y_code(b2), y_code(b3)),
        cb_code(m0) | (cb_code(m1) << 8u),
        cr_code(m0) | (cr_code(m1) << 8u),
    );
}

// Writes tile `tile` (8x2 pixels at tile column tx, row ty) of the I420 frame.
fn video_tile(tile: u32, tx: u32, ty: u32, titled: bool) {
    let w4 = u.width / 4u;  // vec4 key loads per row, and Y words per row
    let top = 2u * ty * w4 + 2u * tx;
    let k0 = keys4[top];
    let k1 = keys4[top + 1u];
    let k2 = keys4[top + w4];
    let k3 = keys4[top + w4 + 1u];
    let y_words = w4 * u.height;
    let cb = y_words + tile;
    let cr = cb + y_words / 4u;
    let x0 = i32(8u * tx);
    let y0 = i32(2u * ty);
    let left = video_block(k0, k2, x0, y0, titled);
    let right = video_block(k1, k3, x0 + 4, y0, titled);
    i420[top] = left.x;
    i420[top + 1u] = right.x;
    i420[top + w4] = left.y;
    i420[top + w4 + 1u] = right.y;
    i420[cb] = left.z | (right.z << 16u);
    i420[cr] = left.w | (right.w << 16u);
}

// Every tile, without the title (the title has its own pass: most tiles never meet it, and testing
// each pixel against it costs a software adapter as much as the rest of the pass).
@compute @workgroup_size(64)
fn resolve_i420(@builtin(global_invocation_id) gid: vec3<u32>) {
    let tile = gid.x + gid.y * video.stride;
    if (tile >= video.tiles) {
        return;
    }
    video_tile(tile, tile % video.tiles_x, tile / video.tiles_x, false);
}

// Only the tiles the splat listed (the frame holds the background already): one invocation each,
// dispatched indirectly with the workgroup count that tile_groups worked out.
@group(0) @binding(12) var<storage, read> listed_tiles: u32;  // the count, as tile_groups found it

@compute @workgroup_size(64)
fn resolve_listed(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= listed_tiles) {
        return;
    }
    let tile = tile_list[gid.x];
    video_tile(tile, tile % video.tiles_x, tile / video.tiles_x, false);
}

@group(0) @binding(13) var<storage, read_write> listed_count: u32;  // binding 12's buffer

@compute @workgroup_size(1)
fn tile_groups() {
    // (the dispatch arguments cannot be bound as storage where they are used for the dispatch)
    listed_count = atomicLoad(&tile_dispatch[3]);
    atomicStore(&tile_dispatch[0], (listed_count + 63u) / 64u);
    atomicStore(&tile_dispatch[1], 1u);
    atomicStore(&tile_dispatch[2], 1u);
}

// Then the tiles under the title again, with it: a grid of title_tiles.x by title_tiles.y tiles
// from tile (title_tiles.z, title_tiles.w). The keys are cleared after both passes.
@compute @workgroup_size(64)
fn title_i420(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let n = video.title_tiles.xy;
    if (i >= n.x * n.y) {
        return;
    }
    let tx = video.title_tiles.z + i % n.x;
    let ty = video.title_tiles.w + i / n.x;
    video_tile(ty * video.tiles_x + tx, tx, ty, true);
}
