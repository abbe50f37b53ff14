"""``CC1:``: NDColorConvert.template, colour mode conversions (ADCore NDPluginColorConvert).

The arithmetic is :mod:`.compute.color_convert`'s: a mono image passes unchanged unless
``ColorModeOut`` is RGB1/RGB2/RGB3 (the value in each colour, or a false-colour map of an
8-bit image with ``FalseColor``); RGB becomes mono as the mean of the three colours. The
output carries its colour mode (``ColorMode_RBV`` of the plugins downstream).
"""

from __future__ import annotations

from ..records.declare import mbbi, mbbo
from .compute import color_convert as compute
from .menus import COLOR_MODES
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame


class NDColorConvert(NDPluginBase):
    """NDColorConvert.template (which includes NDPluginBase.template)."""

    plugin_type = "NDPluginColorConvert"
    passes_input_on = False
    autosave_fields = ("ColorModeOut", "FalseColor")

    color_mode_out = mbbo("ColorModeOut", "Mono", COLOR_MODES, doc="colour mode of the output (NDColorMode_t)")
    color_mode_out_rbv = mbbi("ColorModeOut_RBV", "Mono", COLOR_MODES, doc="colour mode of the output (NDColorMode_t)")
    false_color = mbbo("FalseColor", "None", compute.FALSE_COLORS, doc="false-colour map of 8-bit mono images")
    false_color_rbv = mbbi("FalseColor_RBV", "None", compute.FALSE_COLORS, doc="false-colour map of 8-bit mono images")

    def output_of(self, shape, dtype):
        mode = self.color_mode_out.value
        if len(shape) == 2 and mode in ("RGB1", "RGB2", "RGB3"):
            rows, cols = shape
            shape = {"RGB1": (rows, cols, 3), "RGB2": (rows, 3, cols), "RGB3": (3, rows, cols)}[mode]
        return shape, dtype

    async def process(self, frame: Frame) -> str | None:
        out, mode = compute.convert(frame.data, self.color_mode_out.value, frame.color_mode, self.false_color.value)
        return await self.pass_on(frame if out is frame.data and mode == frame.color_mode
                                  else frame.derived(out, mode))
