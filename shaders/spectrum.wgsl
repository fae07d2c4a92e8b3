// Frequency bands of the current frame as bars (straight up, mirrored about a base line, or
// radial around the centre of the frame). Each bar is one instanced quad, so only the pixels a
// bar covers are shaded. The whole track's band table is one storage buffer; per frame only
// `frame` and the bound parameters change. Output is premultiplied RGBA. Anti-aliased (the
// default), each pixel along a bar's edges is weighted by the share of it inside the bar, worked
// out from its distances to the edges in pixels; without, a pixel is the bar's when its centre is.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct SpectrumParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: SpectrumParams;
@group(0) @binding(1) var<storage, read> bands: array<f32>;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    // Distance from the base along the bar, in units of the full bar height (signed when mirrored).
    @location(0) t: f32,
    // Anti-aliased: the slot drawn, and the lengths (in units of the full bar height) of the bars
    // before it, in it and after it; for radial wedges also the unit normals of their sides.
    @location(1) @interpolate(flat) slot: u32,
    @location(2) @interpolate(flat) extents: vec3<f32>,
    @location(3) @interpolate(flat) sides_before: vec4<f32>,
    @location(4) @interpolate(flat) sides: vec4<f32>,
    @location(5) @interpolate(flat) sides_after: vec4<f32>,
};

// The style (0 bars, 1 mirrored, 2 radial) and anti-aliasing are constants of each pipeline
// (gpurender/render/layers/spectrum.py), so the compiler leaves out the code of the others: a
// software rasterizer runs every branch of a shader for every pixel, whatever the values, a
// uniform's branches included (the wedges' code cost bars three times their own at 1080p).
// The parameter block keeps both fields (u.style, u.antialias), the same values.
override STYLE: u32 = 0u;
override ANTIALIAS: bool = true;
// Anti-aliased bars (not radial) whose gaps are at least two pixels wide (spectrum.py decides): no
// pixel is within reach of two bars, so each bar is drawn alone, its quad a pixel wider than the
// bar on every side, and a pixel adds up only its own bar (the neighbours would add 0). The same
// picture for a third of the work.
override SEPARATE: bool = false;

fn level(bar: u32) -> f32 {
    let band = min(bar * u.n_bands / u.bars, u.n_bands - 1u);
    return clamp(bands[u.frame * u.n_bands + band] * u.gain, 0.0, 1.0);
}

// Quad corners as (across the bar 0..1, along the bar 0..1).
const CORNERS = array<vec2<f32>, 6>(
    vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 1.0), vec2<f32>(0.0, 1.0),
);

const TAU: f32 = 6.28318530718;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32, @builtin(instance_index) bar: u32) -> VsOut {
    var out: VsOut;
    let c = CORNERS[vi];
    let extent = level(bar) * u.height;
    if (ANTIALIAS) {
        return vs_antialiased(c, bar);
    }
    let across = (f32(bar) + u.gap + c.x * (1.0 - u.gap)) / f32(u.bars);
    if (STYLE == 2u) {
        // Radial: the bar is a wedge from `radius` outwards; angle 0 is straight up, clockwise.
        let angle = across * TAU;
        let r = u.radius + c.y * extent;
        let aspect = u.viewport.x / u.viewport.y;
        let p = vec2<f32>(sin(angle) * r / aspect, cos(angle) * r) * 2.0;
        out.position = vec4<f32>(p, 0.0, 1.0);
        out.t = c.y * extent / max(u.height, 1e-6);
        return out;
    }
    var along = c.y * extent;
    if (STYLE == 1u) {
        along = (2.0 * c.y - 1.0) * extent;
    }
    let y = u.base_y + along;
    out.position = vec4<f32>(across * 2.0 - 1.0, y * 2.0 - 1.0, 0.0, 1.0);
    out.t = along / max(u.height, 1e-6);
    return out;
}

// Clip position of a point in pixels from the bottom-left corner.
fn clip_of(px: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(px / u.viewport * 2.0 - 1.0, 0.0, 1.0);
}

// ---- anti-aliased ----------------------------------------------------------------------------
// A pixel along a bar's edge is weighted by the share of it inside the bar. Pixels where two bars
// meet (a gap under a pixel wide) take a share of each, so one quad per bar would shade them twice
// and the second fragment would replace the first (or blend over it: a seam). Instead instance `i`
// covers slot i (the bar and the gap before it) exactly, the slots tiling the row or the ring, tall
// enough for the bars on either side and a pixel more; each pixel is shaded once, by its slot, and
// adds up the bars before, in and after it (exact while a slot is at least a pixel wide).

// The bar after `i`, and before it (around the ring for radial wedges; none past the row's ends).
fn after(i: u32) -> u32 {
    return select(i + 1u, 0u, i + 1u == u.bars);
}

fn before(i: u32) -> u32 {
    return select(i - 1u, u.bars - 1u, i == 0u);
}

// The unit normals of a wedge's sides, pointing into it: (first side, last side).
fn wedge_sides(bar: u32) -> vec4<f32> {
    let a0 = (f32(bar) + u.gap) / f32(u.bars) * TAU;
    let a1 = (f32(bar) + 1.0) / f32(u.bars) * TAU;
    return vec4<f32>(cos(a0), -sin(a0), -cos(a1), sin(a1));
}

fn vs_separate(c: vec2<f32>, i: u32) -> VsOut {
    var out: VsOut;
    let e = level(i) * u.height;
    out.slot = i;
    out.extents = vec3<f32>(0.0, e / max(u.height, 1e-6), 0.0);
    if (e <= 0.0) {
        out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);
        return out;
    }
    let h = u.viewport.y;
    let x0 = (f32(i) + u.gap) / f32(u.bars) * u.viewport.x - 1.0;
    let x1 = (f32(i) + 1.0) / f32(u.bars) * u.viewport.x + 1.0;
    var y0 = u.base_y * h - 1.0;
    if (STYLE == 1u) {
        y0 = (u.base_y - e) * h - 1.0;
    }
    let y1 = (u.base_y + e) * h + 1.0;
    out.position = clip_of(vec2<f32>(select(x0, x1, c.x > 0.5), select(y0, y1, c.y > 0.5)));
    return out;
}

fn vs_antialiased(c: vec2<f32>, i: u32) -> VsOut {
    if (SEPARATE) {
        return vs_separate(c, i);
    }
    var out: VsOut;
    let n = u.bars;
    let row = STYLE != 2u;  // bars, mirrored: no neighbour past either end of the row
    let e_before = select(level(before(i)) * u.height, 0.0, row && i == 0u);
    let e_after = select(level(after(i)) * u.height, 0.0, row && i + 1u == n);
    let e = vec3<f32>(e_before, level(i) * u.height, e_after);
    out.slot = i;
    out.extents = e / max(u.height, 1e-6);
    let reach = max(max(e.x, e.y), e.z);
    if (reach <= 0.0) {
        out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);  // nothing here or on either side
        return out;
    }
    let h = u.viewport.y;
    let s0 = f32(i) / f32(n);
    let s1 = f32(i + 1u) / f32(n);
    if (STYLE == 2u) {
        out.sides_before = wedge_sides(before(i));
        out.sides = wedge_sides(i);
        out.sides_after = wedge_sides(after(i));
        // The slot's wedge as a quad: inner corners a pixel inside the inner radius, outer chord a
        // pixel beyond the longest of the three bars (under three slots: a square around the ring).
        let half = 0.5 * TAU / f32(n);
        let inner = max(u.radius * h - 1.0, 0.0);
        let outer = (u.radius + reach) * h + 1.0;
        if (n < 3u) {
            if (i > 0u) {
                out.position = vec4<f32>(2.0, 2.0, 2.0, 1.0);  // slot 0 draws them all
                return out;
            }
            out.position = clip_of(0.5 * u.viewport + (2.0 * c - 1.0) * outer);
            return out;
        }
        // (select, not mix: neighbouring slots must share their corners to the last bit)
        let angle = select(s0, s1, c.x > 0.5) * TAU;
        let r = select(inner, outer / cos(half), c.y > 0.5);
        out.position = clip_of(0.5 * u.viewport + vec2<f32>(sin(angle), cos(angle)) * r);
        return out;
    }
    var y0 = u.base_y * h - 1.0;
    if (STYLE == 1u) {
        y0 = (u.base_y - reach) * h - 1.0;
    }
    let y1 = (u.base_y + reach) * h + 1.0;
    out.position = clip_of(vec2<f32>(select(s0, s1, c.x > 0.5) * u.viewport.x, select(y0, y1, c.y > 0.5)));
    return out;
}

// The share of a pixel (centred at distance `a` inside one edge of a band and `b` inside the
// opposite edge, in pixels) that lies within the band: exact for a band straight across the pixel.
fn band_cover(a: f32, b: f32) -> f32 {
    return clamp(min(a, 0.5) + min(b, 0.5), 0.0, 1.0);
}

fn premultiplied(t: f32, coverage: f32) -> vec4<f32> {
    let c = mix(u.color, u.color_top, clamp(abs(t), 0.0, 1.0));
    let a = c.a * coverage;
    return vec4<f32>(c.rgb * a, a);
}

// Bar `bar` (of length `e`, in units of the full bar height) at pixel centre `p` (pixels, y up).
fn bar_paint(p: vec2<f32>, bar: u32, e: f32) -> vec4<f32> {
    if (e <= 0.0) {
        return vec4<f32>(0.0);
    }
    let x0 = (f32(bar) + u.gap) / f32(u.bars) * u.viewport.x;
    let x1 = (f32(bar) + 1.0) / f32(u.bars) * u.viewport.x;
    let h = max(u.height, 1e-6) * u.viewport.y;
    let base = u.base_y * u.viewport.y;
    var low = 0.0;
    if (STYLE == 1u) {
        low = -e;
    }
    // along the bar from its base, in units of the full bar height
    let t = (p.y - base) / h;
    let coverage = band_cover(p.x - x0, x1 - p.x) * band_cover((t - low) * h, (e - t) * h);
    return premultiplied(clamp(t, low, e), coverage);
}

// Wedge `bar` (sides' inward normals `sides`, length `e`) at `q`, pixels from the centre, y up.
fn wedge_paint(q: vec2<f32>, sides: vec4<f32>, e: f32) -> vec4<f32> {
    if (e <= 0.0) {
        return vec4<f32>(0.0);
    }
    // the wedge's middle direction (from its sides' directions, perpendicular to their normals)
    let mid = normalize(vec2<f32>(-sides.y, sides.x) - vec2<f32>(-sides.w, sides.z));
    let cos_half = dot(mid, vec2<f32>(-sides.y, sides.x));
    let h = max(u.height, 1e-6) * u.viewport.y;
    let r0 = u.radius * u.viewport.y;
    let r1 = r0 + e * h;
    let along = dot(q, mid);
    let coverage = band_cover(dot(q, sides.xy), dot(q, sides.zw))
        * band_cover(along - r0 * cos_half, r1 * cos_half - along);
    return premultiplied(clamp((along / cos_half - r0) / h, 0.0, e), coverage);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    if (!ANTIALIAS) {
        return premultiplied(in.t, 1.0) * u.opacity;
    }
    // The pixel's centre in pixels, y up.
    let p = vec2<f32>(in.position.x, u.viewport.y - in.position.y);
    let i = in.slot;
    var paint = vec4<f32>(0.0);
    if (STYLE == 2u) {
        let q = p - 0.5 * u.viewport;
        if (u.bars < 3u) {
            // slot 0 draws every wedge
            for (var k = 0u; k < u.bars; k++) {
                paint += wedge_paint(q, wedge_sides(k), level(k) * u.height / max(u.height, 1e-6));
            }
        } else {
            paint = wedge_paint(q, in.sides_before, in.extents.x) + wedge_paint(q, in.sides, in.extents.y)
                + wedge_paint(q, in.sides_after, in.extents.z);
        }
    } else {
        paint = bar_paint(p, i, in.extents.y);
        // (SEPARATE: no neighbour within reach)
        if (!SEPARATE && i > 0u) {
            paint += bar_paint(p, i - 1u, in.extents.x);
        }
        if (!SEPARATE && i + 1u < u.bars) {
            paint += bar_paint(p, i + 1u, in.extents.z);
        }
    }
    if (paint.a <= 0.0) {
        discard;
    }
    // The bars' paint adds up (they do not overlap), so the opacity scales the sum.
    return paint * u.opacity;
}
