// Depth-tested point splatting in compute, for large per-frame point clouds.
//
// Software rasterizers spend most of their time per triangle, and a point drawn as a sprite costs
// two. Here each point is projected once and written straight into a per-pixel buffer as a disc of
// `radius` pixels, in one pass:
//   splat_listed: each covered pixel takes atomicMax(key), key = depth level << index_bits |
//          (index + 1), where the depth level runs from 0 (far end of the cloud) to all ones (near
//          end), so the nearest point wins and, within one depth level, the highest index; the
//          result never depends on the order threads run in. It also lists every tile (tile_w x
//          tile_h pixels) a point touches, once, so that only those are resolved;
//   vs_tiles/fs_resolve: one quad per listed tile (an indirect draw whose arguments tile_draws
//          writes) turns each pixel's key into its point's colour (premultiplied; transparent where
//          no point landed) and empties the key for the next frame (the `pointseq` and `points`
//          layers: a full-frame pass would cost a software adapter ~20 ms at 720p however few the
//          points); or the direct I420 passes further down (point-cloud exports).
// Depth levels are linear in view depth between depth_near and depth_far (the cloud's extent seen
// from the camera), 2^(32 - index_bits) of them: 4096 across the cloud at a million points.
//
// Anti-aliasing (samples = 4): each pixel keeps four keys, one per sample of a rotated grid, and a
// pixel's colour is the mean of its samples' colours, so a disc's rim gets partial coverage and a
// disc behind shows through where the one in front covers only part of the pixel. The keys of a
// pixel are adjacent (one vec4 load in the resolves). It stays exact and order-independent: each
// sample is a depth test of its own. samples = 1 keys the pixel centre alone (hard edges).

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct SplatParams"

// Read a pixel's key before the atomicMax, skipping it when a nearer point is there already: on a
// GPU this spares contended atomics where many points land on one pixel; a software adapter runs
// atomics lane by lane anyway, and the extra read only costs it (about 10% of the splat).
override LOAD_FIRST: bool = true;

// Keys per pixel: 4 (anti-aliased) or 1, a pipeline constant rather than SplatParams.samples (which
// says the same): a software adapter pays for the code of both sides of a branch, uniform or not.
override SAMPLES: u32 = 4u;

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: SplatParams;
@group(0) @binding(1) var<storage, read> positions: array<f32>;  // x, y, z per point, packed
@group(0) @binding(2) var<storage, read_write> keys: array<atomic<u32>>;

// The tiles the splat touched: each listed once (the list's order varies from run to run, what is
// drawn from it does not).
@group(0) @binding(9) var<storage, read_write> tile_flags: array<atomic<u32>>;  // 1 = listed
@group(0) @binding(10) var<storage, read_write> tile_list: array<u32>;
// indirect dispatch arguments (x, y, z) of the I420 resolve, then the number of listed tiles
@group(0) @binding(11) var<storage, read_write> tile_dispatch: array<atomic<u32>, 4>;

fn mark_tiles(x0: i32, x1: i32, y0: i32, y1: i32) {
    if (x0 > x1 || y0 > y1) {
        return;  // off the frame
    }
    let tw = i32(u.tile_w);
    let th = i32(u.tile_h);
    for (var ty = y0 / th; ty <= y1 / th; ty++) {
        for (var tx = x0 / tw; tx <= x1 / tw; tx++) {
            let t = u32(ty) * u.tiles_x + u32(tx);
            if (atomicLoad(&tile_flags[t]) == 0u && atomicExchange(&tile_flags[t], 1u) == 0u) {
                tile_list[atomicAdd(&tile_dispatch[3], 1u)] = t;
            }
        }
    }
}

// Sample positions within a pixel (y down), one in each quadrant, in the order of the keys: a
// rotated grid resolves near-horizontal and near-vertical edges into four levels, not two. (Written
// out below rather than read from a const array: a software adapter copies an array indexed in a
// loop to the stack in every invocation.)
//   (0.375, 0.125), (0.875, 0.375), (0.125, 0.625), (0.625, 0.875)

fn offer(slot: u32, key: u32) {
    if (!LOAD_FIRST || atomicLoad(&keys[slot]) < key) {
        atomicMax(&keys[slot], key);
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
    // the frame itself: keys rows may be wider (padding to whole tiles) but points stay off it
    let last_x = i32(u.viewport.x) - 1;
    let last_y = i32(u.viewport.y) - 1;
    let nearness = clamp((u.depth_far - clip.w) / (u.depth_far - u.depth_near), 0.0, 1.0);
    let level = u32(nearness * u.depth_levels + 0.5);
    let key = (level << u.index_bits) | (i + 1u);
    if (SAMPLES == 4u) {
        // the pixels with a sample (offsets 0.125..0.875) that can be within r, and the point's own
        let x0 = max(min(i32(ceil(cx - 0.875 - r)), own_x), 0);
        let x1 = min(max(i32(floor(cx - 0.125 + r)), own_x), last_x);
        let y0 = max(min(i32(ceil(cy - 0.875 - r)), own_y), 0);
        let y1 = min(max(i32(floor(cy - 0.125 + r)), own_y), last_y);
        // the sample in the quadrant of its pixel that holds the point, so a point smaller than a
        // pixel keeps at least a quarter of it
        let own_k = select(0, 1, cx - f32(own_x) >= 0.5) + select(0, 2, cy - f32(own_y) >= 0.5);
        let r2 = r * r;
        for (var y = y0; y <= y1; y++) {
            let dy = f32(y) - cy;
            for (var x = x0; x <= x1; x++) {
                let dx = f32(x) - cx;
                let base = 4u * (u32(y) * u.width + u32(x));
                // the own sample's index, or 4 (none) off the point's own pixel
                let own = select(4, own_k, x == own_x && y == own_y);
                let d0 = vec2<f32>(dx + 0.375, dy + 0.125);
                let d1 = vec2<f32>(dx + 0.875, dy + 0.375);
                let d2 = vec2<f32>(dx + 0.125, dy + 0.625);
                let d3 = vec2<f32>(dx + 0.625, dy + 0.875);
                if (dot(d0, d0) <= r2 || own == 0) {
                    offer(base, key);
                }
                if (dot(d1, d1) <= r2 || own == 1) {
                    offer(base + 1u, key);
                }
                if (dot(d2, d2) <= r2 || own == 2) {
                    offer(base + 2u, key);
                }
                if (dot(d3, d3) <= r2 || own == 3) {
                    offer(base + 3u, key);
                }
            }
        }
        return vec4<i32>(x0, x1, y0, y1);
    }
    // the pixels whose centres (x + 0.5, y + 0.5) can be within r, and the point's own pixel
    let x0 = max(min(i32(ceil(cx - 0.5 - r)), own_x), 0);
    let x1 = min(max(i32(floor(cx - 0.5 + r)), own_x), last_x);
    let y0 = max(min(i32(ceil(cy - 0.5 - r)), own_y), 0);
    let y1 = min(max(i32(floor(cy - 0.5 + r)), own_y), last_y);
    for (var y = y0; y <= y1; y++) {
        let dy = f32(y) + 0.5 - cy;
        for (var x = x0; x <= x1; x++) {
            let dx = f32(x) + 0.5 - cx;
            // covered: the pixel's centre is within the radius, or the pixel holds the point itself,
            // so points smaller than a pixel do not vanish
            if (dx * dx + dy * dy <= r * r || (x == own_x && y == own_y)) {
                offer(u32(y) * u.width + u32(x), key);
            }
        }
    }
    return vec4<i32>(x0, x1, y0, y1);
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

// The arguments of the indirect draw of the listed tiles' quads: 6 vertices, one instance a tile.
@group(0) @binding(14) var<storage, read_write> draw_args: array<u32, 4>;

@compute @workgroup_size(1)
fn tile_draws() {
    draw_args[0] = 6u;
    draw_args[1] = atomicLoad(&tile_dispatch[3]);
    draw_args[2] = 0u;
    draw_args[3] = 0u;
}

@group(0) @binding(15) var<storage, read> drawn_tiles: array<u32>;  // binding 10's buffer

@vertex
fn vs_tiles(@builtin(vertex_index) vi: u32, @builtin(instance_index) ii: u32) -> @builtin(position) vec4<f32> {
    let tile = drawn_tiles[ii];
    // corners (0,0) (1,0) (1,1) (0,0) (1,1) (0,1) of two triangles
    let corner = vec2<u32>(select(0u, 1u, vi == 1u || vi == 2u || vi == 4u), select(0u, 1u, vi == 2u || vi >= 4u));
    let cell = vec2<u32>(tile % u.tiles_x, tile / u.tiles_x) + corner;
    let px = min(vec2<f32>(cell * vec2<u32>(u.tile_w, u.tile_h)), u.viewport);
    let ndc = px / u.viewport * 2.0 - 1.0;
    return vec4<f32>(ndc.x, -ndc.y, 0.0, 1.0);
}

// A key's point colour, premultiplied; transparent for a key of 0 (no point). Branch-free (a key of
// 0 reads the first colour at weight 0): a software adapter runs invocations as SIMD lanes, and a
// branch that some lanes take costs all of them.
fn key_paint(key: u32) -> vec4<f32> {
    let c = unpack4x8unorm(colors[max(key & ((1u << u.index_bits) - 1u), 1u) - 1u]);
    let a = select(0.0, c.a, key != 0u);
    return vec4<f32>(min(c.rgb * u.brightness, vec3<f32>(1.0)) * a, a);
}

@fragment
fn fs_resolve(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let pixel = u32(pos.y) * u.width + u32(pos.x);
    if (SAMPLES == 4u) {
        // the mean of the samples (empty ones transparent), in a fixed order
        let i = 4u * pixel;
        let paint = key_paint(resolved[i]) + key_paint(resolved[i + 1u]) + key_paint(resolved[i + 2u])
            + key_paint(resolved[i + 3u]);
        resolved[i] = 0u;
        resolved[i + 1u] = 0u;
        resolved[i + 2u] = 0u;
        resolved[i + 3u] = 0u;
        return 0.25 * paint;
    }
    let paint = key_paint(resolved[pixel]);
    resolved[pixel] = 0u;
    return paint;
}

// ---------------------------------------------------------------------------------------------
// Direct I420 output, for point-cloud exports (pointvideo.py), in whole 8x2 tiles: a frame whose
// width is not a multiple of 8 is drawn padded to one (u.width) and cropped when read back.
// One invocation owns one 8x2 pixel tile: it turns each pixel's key into its point's colour over
// the opaque background, optionally lays the title's coverage over that in the title colour, and
// writes the tile's Y, U and V bytes straight into the I420 buffer (layout and code values of
// rgba_to_yuv.wgsl). Per frame: splat_listed (keys and the list of touched tiles), tile_groups,
// resolve_listed over those tiles into a copy of the background frame (but those under the title),
// title_i420 over the tiles under the title; each tile's keys are emptied by the pass that resolves
// it, and the list by clear_buffer. resolve_i420 resolves every tile: once for the background frame
// (none under the title then), and for frames too large for the tile list.
// This replaces the layer textures, the compositor and the separate colour conversion, whose fixed
// cost per frame outweighs drawing 10,000 points on a software adapter.

//#include "yuv_codes.wgsl"

//#include "struct I420Video"

@group(0) @binding(5) var<storage, read> video: I420Video;
@group(0) @binding(6) var<storage, read_write> i420: array<u32>;
@group(0) @binding(7) var<storage, read> title: array<u32>;  // coverage bytes, row by row
// the keys: four pixels a load (samples = 1), or one pixel's four samples (samples = 4)
// (each tile's keys are emptied by the pass that resolves it last, for the next frame)
@group(0) @binding(8) var<storage, read_write> keys4: array<vec4<u32>>;

// A sample's colour: its point's over the background. Branch-free (a key of 0, no point, reads
// the first colour at weight 0): a software adapter runs invocations as SIMD lanes, and a branch
// that some lanes take costs all of them.
fn sample_rgb(key: u32) -> vec3<f32> {
    let c = unpack4x8unorm(colors[max(key & ((1u << u.index_bits) - 1u), 1u) - 1u]);
    let a = select(0.0, c.a, key != 0u);
    return mix(video.background.rgb, min(c.rgb * u.brightness, vec3<f32>(1.0)), a);
}

// The title's coverage over a pixel's colour.
fn titled_rgb(rgb: vec3<f32>, x: i32, y: i32, titled: bool) -> vec3<f32> {
    if (titled) {
        let t = vec2<i32>(x, y) - video.title_rect.xy;
        if (all(t >= vec2<i32>(0)) && all(t < video.title_rect.zw)) {
            let word = title[u32(t.y) * video.title_stride + u32(t.x) / 4u];
            let coverage = f32((word >> (8u * (u32(t.x) % 4u))) & 255u) / 255.0;
            return mix(rgb, video.title_color.rgb, coverage * video.title_color.a);
        }
    }
    return rgb;
}

// One pixel's colour from its key (samples = 1) ...
fn video_pixel(key: u32, x: i32, y: i32, titled: bool) -> vec3<f32> {
    return titled_rgb(sample_rgb(key), x, y, titled);
}

// ... or from its four samples' keys (samples = 4): their mean, in a fixed order.
fn video_pixel4(keys: vec4<u32>, x: i32, y: i32, titled: bool) -> vec3<f32> {
    let paint = 0.25 * (key_paint(keys.x) + key_paint(keys.y) + key_paint(keys.z) + key_paint(keys.w));
    return titled_rgb(video.background.rgb * (1.0 - paint.a) + paint.rgb, x, y, titled);
}

// A 4x2 block from its pixels' colours, top row a, bottom row b: (top Y word, bottom Y word, two Cb
// bytes, two Cr bytes). Straight-line code: a software adapter runs it as SIMD lanes without stack
// arrays.
fn video_block(a0: vec3<f32>, a1: vec3<f32>, a2: vec3<f32>, a3: vec3<f32>,
               b0: vec3<f32>, b1: vec3<f32>, b2: vec3<f32>, b3: vec3<f32>) -> vec4<u32> {
    let m0 = 0.25 * (a0 + a1 + b0 + b1);
    let m1 = 0.25 * (a2 + a3 + b2 + b3);
    return vec4<u32>(
        pack4(y_code(a0), y_code(a1), y_code(a2), y_code(a3)),
        pack4(y_code(b0), y_code(b1), y_code(b2), y_code(b3)),
        cb_code(m0) | (cb_code(m1) << 8u),
        cr_code(m0) | (cr_code(m1) << 8u),
    );
}

// The 4x2 block at (x, y) whose keys are `top` and `bottom` (samples = 1: four pixels a vec4).
fn video_block1(top: vec4<u32>, bottom: vec4<u32>, x: i32, y: i32, titled: bool) -> vec4<u32> {
    return video_block(
        video_pixel(top.x, x, y, titled), video_pixel(top.y, x + 1, y, titled),
        video_pixel(top.z, x + 2, y, titled), video_pixel(top.w, x + 3, y, titled),
        video_pixel(bottom.x, x, y + 1, titled), video_pixel(bottom.y, x + 1, y + 1, titled),
        video_pixel(bottom.z, x + 2, y + 1, titled), video_pixel(bottom.w, x + 3, y + 1, titled));
}

// The 4x2 block at (x, y) with four samples a pixel (one vec4 a pixel); `top` is its first pixel's
// index. `clear` empties its keys once read.
fn video_block4(top: u32, x: i32, y: i32, titled: bool, clear: bool) -> vec4<u32> {
    let bottom = top + u.width;
    let block = video_block(
        video_pixel4(keys4[top], x, y, titled), video_pixel4(keys4[top + 1u], x + 1, y, titled),
        video_pixel4(keys4[top + 2u], x + 2, y, titled), video_pixel4(keys4[top + 3u], x + 3, y, titled),
        video_pixel4(keys4[bottom], x, y + 1, titled), video_pixel4(keys4[bottom + 1u], x + 1, y + 1, titled),
        video_pixel4(keys4[bottom + 2u], x + 2, y + 1, titled), video_pixel4(keys4[bottom + 3u], x + 3, y + 1, titled));
    if (clear) {
        let empty = vec4<u32>(0u);
        keys4[top] = empty;
        keys4[top + 1u] = empty;
        keys4[top + 2u] = empty;
        keys4[top + 3u] = empty;
        keys4[bottom] = empty;
        keys4[bottom + 1u] = empty;
        keys4[bottom + 2u] = empty;
        keys4[bottom + 3u] = empty;
    }
    return block;
}

// Whether tile (tx, ty) is under the title: title_i420 resolves it last (and empties its keys).
fn under_title(tx: u32, ty: u32) -> bool {
    let t = video.title_tiles;
    return tx >= t.z && tx < t.z + t.x && ty >= t.w && ty < t.w + t.y;
}

// Writes tile `tile` (8x2 pixels at tile column tx, row ty) of the I420 frame; `clear` empties its
// keys once read (instead of clearing the whole keys buffer, which a software adapter fills slowly).
fn video_tile(tile: u32, tx: u32, ty: u32, titled: bool, clear: bool) {
    let w4 = u.width / 4u;  // Y words per row
    let top = 2u * ty * w4 + 2u * tx;  // the tile's first Y word
    let y_words = w4 * u.height;
    let cb = y_words + tile;
    let cr = cb + y_words / 4u;
    let x0 = i32(8u * tx);
    let y0 = i32(2u * ty);
    var left: vec4<u32>;
    var right: vec4<u32>;
    if (SAMPLES == 4u) {
        let first = 2u * ty * u.width + 8u * tx;  // the tile's first pixel
        left = video_block4(first, x0, y0, titled, clear);
        right = video_block4(first + 4u, x0 + 4, y0, titled, clear);
    } else {
        left = video_block1(keys4[top], keys4[top + w4], x0, y0, titled);
        right = video_block1(keys4[top + 1u], keys4[top + w4 + 1u], x0 + 4, y0, titled);
        if (clear) {
            let empty = vec4<u32>(0u);
            keys4[top] = empty;
            keys4[top + 1u] = empty;
            keys4[top + w4] = empty;
            keys4[top + w4 + 1u] = empty;
        }
    }
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
    let tx = tile % video.tiles_x;
    let ty = tile / video.tiles_x;
    if (!under_title(tx, ty)) {
        video_tile(tile, tx, ty, false, true);
    }
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
    let tx = tile % video.tiles_x;
    let ty = tile / video.tiles_x;
    if (!under_title(tx, ty)) {
        video_tile(tile, tx, ty, false, true);
    }
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

// Then the tiles under the title, with it: a grid of title_tiles.x by title_tiles.y tiles from tile
// (title_tiles.z, title_tiles.w).
@compute @workgroup_size(64)
fn title_i420(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let n = video.title_tiles.xy;
    if (i >= n.x * n.y) {
        return;
    }
    let tx = video.title_tiles.z + i % n.x;
    let ty = video.title_tiles.w + i / n.x;
    video_tile(ty * video.tiles_x + tx, tx, ty, true, true);
}
