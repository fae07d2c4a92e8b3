// A straight-alpha RGBA8 texture drawn into a pixel rectangle of the layer (images and text).
//
// Each output pixel finds its place in the source by its centre. `filtered` = 0 reads the one texel
// under it (pixel for pixel when the rectangle has the texture's size and whole-pixel corners);
// 1 filters bilinearly. Filtering is done here on premultiplied values, by hand from textureLoad,
// so transparent texels never bleed their colour into edges and no sampler is needed. Output is
// premultiplied RGBA, transparent outside the rectangle; anti-aliased (`antialias`), the pixels its
// edges cross are weighted by the share of them inside it.

//#include "common.wgsl"

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct QuadParams"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> u: QuadParams;
@group(0) @binding(1) var src: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> @builtin(position) vec4<f32> {
    return fullscreen_position(vi);
}

fn texel(p: vec2<i32>) -> vec4<f32> {
    let hi = vec2<i32>(u.src_size) - vec2<i32>(1, 1);
    let c = textureLoad(src, clamp(p, vec2<i32>(0, 0), hi), 0);
    return vec4<f32>(c.rgb * c.a, c.a);
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    if (u.rect.z <= 0.0 || u.rect.w <= 0.0) {
        return vec4<f32>(0.0);
    }
    var local = (pos.xy - u.rect.xy) / u.rect.zw;
    var coverage = 1.0;
    if (u.antialias != 0u) {
        // The share of the pixel inside the rectangle (1 inside, less along its edges, which need
        // not fall on whole pixels); a pixel partly outside shows the nearest texels inside.
        let overlap = clamp(min(pos.xy + 0.5, u.rect.xy + u.rect.zw) - max(pos.xy - 0.5, u.rect.xy),
                            vec2<f32>(0.0), vec2<f32>(1.0));
        coverage = overlap.x * overlap.y;
        if (coverage <= 0.0) {
            return vec4<f32>(0.0);
        }
        local = clamp(local, vec2<f32>(0.0), vec2<f32>(1.0 - 1e-6));
    } else if (any(local < vec2<f32>(0.0)) || any(local >= vec2<f32>(1.0))) {
        return vec4<f32>(0.0);
    }
    return (coverage * u.opacity) * sample_at(local * u.src_size);
}

// The image at texel coordinates `s` (0..src_size): the texel under it, or filtered.
fn sample_at(s: vec2<f32>) -> vec4<f32> {
    if (u.filtered == 0u) {
        return texel(vec2<i32>(floor(s)));
    }
    // Texel centres sit at half-integers; interpolate between the four around `s`.
    let g = s - vec2<f32>(0.5);
    let base = floor(g);
    let f = g - base;
    let b = vec2<i32>(base);
    let top = mix(texel(b), texel(b + vec2<i32>(1, 0)), f.x);
    let bottom = mix(texel(b + vec2<i32>(0, 1)), texel(b + vec2<i32>(1, 1)), f.x);
    return mix(top, bottom, f.y);
}
