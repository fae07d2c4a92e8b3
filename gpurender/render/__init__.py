"""The render stage: wgpu device, layer passes, compositor, colour conversion and readback."""
