"""Effect layers: renderers that process the composite of everything beneath them (bloom, blur,
trails, vignette, grain), like adjustment layers. One module per effect type; the scene stage
declares each type (``gpurender/scene/layers_effects.py``) and names its renderer class here.

The contract between the frame loop (:mod:`gpurender.render.renderer`) and an effect:

* The renderer subclasses :class:`EffectRenderer` (``effect = True``). It draws nothing of its own:
  for every frame (every sub-frame, under motion blur) the frame loop first finishes the composite
  of all layers beneath the effect, then calls
  :meth:`EffectRenderer.apply` ``(command_encoder, frame, source_view, target_view)``.
* ``source_view``: the composite of everything beneath the layer, premultiplied RGBA in an
  ``rgba16float`` texture (:data:`EFFECT_FORMAT`), HDR (colour values may exceed 1; alpha stays in
  0..1), at the render size ``ctx.width`` x ``ctx.height`` (the supersampled size when the scene
  supersamples: sizes given as fractions of the frame height stay right). Bind it as
  ``texture_2d<f32>``; it is filterable (a linear sampler may read it). Read-only during the call.
* ``target_view``: an ``rgba16float`` texture view of the same size that :meth:`apply` must
  overwrite completely (every pixel) with its result, premultiplied. Its content on entry is
  undefined (it is shared with other layers). Usage: ``RENDER_ATTACHMENT | TEXTURE_BINDING |
  STORAGE_BINDING``: write it with a render pass or as ``texture_storage_2d<rgba16float, write>``.
* Neither view may be kept beyond the call: the frame loop alternates its textures between frames.
  The effect's own intermediate textures (mip chains, state) are its own, made once.
* After :meth:`apply` the frame loop composites ``target`` over ``source`` with the layer's
  ``blend`` and ``opacity``. ``normal`` replaces: the result is ``mix(source, target, opacity)``, so
  at opacity 1 the effect's output is the picture; the other modes are the W3C blends of the
  compositor (``add`` adds the target to the source, ``screen`` screens it ...).
* Parameters: :meth:`LayerRenderer.value` ``(key, frame)`` as for every layer (bound parameters
  follow the audio at the frame's exact, possibly fractional, position). ``frame.time`` is the
  (sub-)frame's time in seconds; ``frame.dt`` the seconds since the previous (sub-)frame the frame
  loop stepped, ``frame.subframe`` / ``frame.subframes`` which sample of a motion-blurred frame it is.
* Stateful effects (trails) set ``stateful = True`` and :attr:`EffectRenderer.preroll_frames`, and
  implement :meth:`reset`. The frame loop calls :meth:`apply` for every frame in order (every
  sub-frame, under motion blur); to start a render at frame ``first`` it calls :meth:`reset`, then
  renders frames ``max(0, first - preroll_frames) .. first - 1`` completely (every layer and effect,
  nothing read back) before ``first``. The effect's state must make that give exactly the frames a
  single pass from frame 0 gives (a bounded horizon: e.g. accumulators restarted at fixed frame
  boundaries), which is what keeps chunked == single pass bit for bit. :meth:`advance` is called
  before :meth:`apply` for each frame as for other stateful layers (optional).
"""

from __future__ import annotations

from ..layers.base import FrameInfo, LayerRenderer

#: The format of an effect's source and target: premultiplied RGBA in half floats (HDR).
EFFECT_FORMAT = "rgba16float"


class EffectRenderer(LayerRenderer):
    """Base of effect layer renderers (see the module docstring for the contract)."""

    effect = True
    #: Frames before a render's first frame that the frame loop re-renders (after :meth:`reset`) for
    #: that frame to come out exactly as in a single pass from frame 0. Stateful effects only.
    preroll_frames = 0

    def apply(self, command_encoder, frame: FrameInfo, source_view, target_view) -> None:
        """Record the passes that write the effect of ``source_view`` into all of ``target_view``."""
        raise NotImplementedError

    def draw(self, command_encoder, frame: FrameInfo, target) -> None:
        raise TypeError(f"{type(self).__name__} is an effect: the frame loop calls apply(), not draw()")
