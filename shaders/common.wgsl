// Shared helpers for gpurender's WGSL passes.

// A triangle covering the whole viewport; draw with 3 vertices and no vertex buffer.
fn fullscreen_position(vertex_index: u32) -> vec4<f32> {
    let x = f32((vertex_index << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(vertex_index & 2u) * 2.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}
