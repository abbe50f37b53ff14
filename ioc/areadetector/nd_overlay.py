"""``Over1:``: NDOverlay.template and its overlays ``1:``-``8:`` (NDOverlayN.template) (ADCore NDPluginOverlay).

The drawing is :mod:`.compute.overlay`'s: each overlay in ``Use`` (a cross, rectangle,
ellipse or text with the array's time stamp) drawn into a copy of the array that passes on,
in Green for a mono image, Red/Green/Blue in a colour one, set or XORed. ``PositionX`` and
``CenterX`` are coupled through ``SizeX`` as ADCore couples them (the one written last
stays). As ADCore's example IOC loads them, overlays 1-4 follow the regions of ``ROI1:``
-``ROI4:``: their ``PositionXLink``... take the ROI's ``MinX_RBV``... and write
``PositionX``... (see :meth:`NDOverlayN.follow_region`, wired by the plugin set).
"""

from __future__ import annotations

from ..records import Macro, RecordGroup, echo_to_readback
from ..records.declare import bi, bo, dfanout, longin, longout, mbbi, mbbo, stringin, stringout, waveform
from ..records.validate import integer
from .compute import overlay as compute
from .menus import NO_YES, OK_MINOR
from .nd_plugin_base import NDPluginBase
from .ndarray import Frame, enum_index, post, text

OVERLAYS = 8  # NDOverlayConfigure's maxOverlays in ADCore's example IOC
NAMES = ("ROI1", "ROI2", "ROI3", "ROI4", "Cursor1", "Cursor2", "Box1", "Box2")  # EXAMPLE_commonPlugins.cmd's
_INT = (-(2**31), 2**31 - 1)


class NDOverlayN(RecordGroup):
    """NDOverlayN.template: one overlay of an NDOverlay plugin, ``settings`` its parameters."""

    asg = "HARDWARE"  # access security group (the ACF's): its plugin's (a standalone group, not a subgroup)

    use = bo("Use", "No", NO_YES, doc="draw this overlay")
    use_rbv = bi("Use_RBV", "No", NO_YES, sev=OK_MINOR, doc="draw this overlay")
    name_ = stringout("Name", Macro("NAME", str, ""), doc="name of this overlay")
    name_rbv = stringin("Name_RBV", Macro("NAME", str, ""), doc="name of this overlay")
    shape = mbbo("Shape", "Rectangle", tuple(compute.SHAPES), doc="the shape of this overlay")
    shape_rbv = mbbi("Shape_RBV", "Rectangle", tuple(compute.SHAPES), doc="the shape of this overlay")
    draw_mode = mbbo("DrawMode", "Set", compute.DRAW_MODES, doc="set the pixels to the colour, or XOR them with it")
    draw_mode_rbv = mbbi("DrawMode_RBV", "Set", compute.DRAW_MODES,
                         doc="set the pixels to the colour, or XOR them with it")
    position_x = longout("PositionX", doc="left edge of this overlay (pixels)")
    position_x_rbv = longin("PositionX_RBV", doc="left edge of this overlay (pixels)")
    position_x_link = longout("PositionXLink", doc="link record: PositionX from ROI MinX_RBV (overlays 1-4)")
    position_y = longout("PositionY", doc="top edge of this overlay (pixels)")
    position_y_rbv = longin("PositionY_RBV", doc="top edge of this overlay (pixels)")
    position_y_link = longout("PositionYLink", doc="link record: PositionY from ROI MinY_RBV (overlays 1-4)")
    center_x = longout("CenterX", doc="X of the centre of this overlay (pixels)")
    center_x_rbv = longin("CenterX_RBV", doc="X of the centre of this overlay (pixels)")
    center_x_link = longout("CenterXLink", doc="link record: CenterX from another record (unlinked here)")
    center_y = longout("CenterY", doc="Y of the centre of this overlay (pixels)")
    center_y_rbv = longin("CenterY_RBV", doc="Y of the centre of this overlay (pixels)")
    center_y_link = longout("CenterYLink", doc="link record: CenterY from another record (unlinked here)")
    size_x = longout("SizeX", 1, doc="width of this overlay (pixels)")
    size_x_rbv = longin("SizeX_RBV", 1, doc="width of this overlay (pixels)")
    size_x_link = longout("SizeXLink", doc="link record: SizeX from ROI SizeX_RBV (overlays 1-4)")
    size_y = longout("SizeY", doc="height of this overlay (pixels)")
    size_y_rbv = longin("SizeY_RBV", doc="height of this overlay (pixels)")
    size_y_link = longout("SizeYLink", doc="link record: SizeY from ROI SizeY_RBV (overlays 1-4)")
    width_x = longout("WidthX", doc="line width in X (pixels)")
    width_x_rbv = longin("WidthX_RBV", doc="line width in X (pixels)")
    width_x_link = longout("WidthXLink", doc="link record: WidthX from another record (unlinked here)")
    width_y = longout("WidthY", doc="line width in Y (pixels)")
    width_y_rbv = longin("WidthY_RBV", doc="line width in Y (pixels)")
    width_y_link = longout("WidthYLink", doc="link record: WidthY from another record (unlinked here)")
    red = longout("Red", 1, doc="red value of the overlay (colour images)")
    red_rbv = longin("Red_RBV", 1, doc="red value of the overlay (colour images)")
    green = longout("Green", 1, doc="green value of the overlay (the value drawn in mono images)")
    green_rbv = longin("Green_RBV", 1, doc="green value of the overlay (the value drawn in mono images)")
    blue = longout("Blue", 1, doc="blue value of the overlay (colour images)")
    blue_rbv = longin("Blue_RBV", 1, doc="blue value of the overlay (colour images)")
    display_text = waveform("DisplayText", doc="the text drawn by a Text overlay, before the time stamp")
    display_text_rbv = waveform("DisplayText_RBV", doc="the text drawn by a Text overlay, before the time stamp")
    time_stamp_format = stringout("TimeStampFormat", "%Y-%m-%d %H:%M:%S.%03f",
                                  doc="strftime format of the array's time stamp in a Text overlay")
    time_stamp_format_rbv = stringin("TimeStampFormat_RBV", "%Y-%m-%d %H:%M:%S.%03f",
                                     doc="strftime format of the array's time stamp in a Text overlay")
    font = mbbo("Font", "6x13", compute.FONTS, doc="font of a Text overlay")
    font_rbv = mbbi("Font_RBV", "6x13", compute.FONTS, doc="font of a Text overlay")
    max_size_x = longin("MaxSizeX", doc="the input array's size in X, for the sliders' HOPR")
    set_xhopr = dfanout("SetXHOPR", doc="dfanout record: copies MaxSizeX to PositionX/CenterX/SizeX.HOPR")
    max_size_y = longin("MaxSizeY", doc="the input array's size in Y, for the sliders' HOPR")
    set_yhopr = dfanout("SetYHOPR", doc="dfanout record: copies MaxSizeY to PositionY/CenterY/SizeY.HOPR")

    def __init__(self, prefix: str, *, settings: compute.OverlaySettings, macros: dict | None = None) -> None:
        super().__init__(prefix, macros=macros)
        self.settings = settings
        settings.name = self.name_.value
        settings.shape = self.shape.value

    async def follow_region(self, min_x: int, min_y: int, size_x: int, size_y: int) -> None:
        """A region's readbacks changed: its link records write them here (CP links of the example IOC)."""
        for link, target, value in ((self.position_x_link, self.position_x, min_x),
                                    (self.position_y_link, self.position_y, min_y),
                                    (self.size_x_link, self.size_x, size_x), (self.size_y_link, self.size_y, size_y)):
            if link.value != value:
                await link.write(value, verify_value=False)
                await target.write(value)

    async def max_size(self, x: int, y: int) -> None:
        """The input array's size (MaxSizeX/Y, through their HOPR fanouts)."""
        await post(self.max_size_x, x)
        await post(self.max_size_y, y)
        await post(self.set_xhopr, float(x))
        await post(self.set_yhopr, float(y))

    async def _geometry(self) -> None:
        """Position and centre readbacks, coupled through the size."""
        s = self.settings
        for attr in ("position_x", "position_y", "center_x", "center_y", "size_x", "size_y"):
            await post(getattr(self, attr + "_rbv"), getattr(s, attr))

    async def _put(self, instance, value, attr: str, convert=int):
        value = integer(instance.pvname, value, *_INT, instance.pvspec.doc) if convert is int else convert(value)
        setattr(self.settings, attr, value)
        return await echo_to_readback(self, instance, value)

    async def _put_geometry(self, instance, value, method: str):
        value = integer(instance.pvname, value, *_INT, instance.pvspec.doc)
        getattr(self.settings, method)(value)
        await self._geometry()
        return value

    @use.putter
    async def use(self, instance, value):
        self.settings.use = bool(enum_index(instance, value))
        return await echo_to_readback(self, instance, value)

    @name_.putter
    async def name_(self, instance, value):
        return await self._put(instance, value, "name", text)

    @shape.putter
    async def shape(self, instance, value):
        self.settings.shape = instance.enum_strings[enum_index(instance, value)]
        return await echo_to_readback(self, instance, value)

    @draw_mode.putter
    async def draw_mode(self, instance, value):
        self.settings.draw_mode = instance.enum_strings[enum_index(instance, value)]
        return await echo_to_readback(self, instance, value)

    @font.putter
    async def font(self, instance, value):
        self.settings.font = instance.enum_strings[enum_index(instance, value)]
        return await echo_to_readback(self, instance, value)

    @position_x.putter
    async def position_x(self, instance, value):
        return await self._put_geometry(instance, value, "put_position_x")

    @position_y.putter
    async def position_y(self, instance, value):
        return await self._put_geometry(instance, value, "put_position_y")

    @center_x.putter
    async def center_x(self, instance, value):
        return await self._put_geometry(instance, value, "put_center_x")

    @center_y.putter
    async def center_y(self, instance, value):
        return await self._put_geometry(instance, value, "put_center_y")

    @size_x.putter
    async def size_x(self, instance, value):
        return await self._put_geometry(instance, value, "put_size_x")

    @size_y.putter
    async def size_y(self, instance, value):
        return await self._put_geometry(instance, value, "put_size_y")

    @width_x.putter
    async def width_x(self, instance, value):
        return await self._put(instance, value, "width_x")

    @width_y.putter
    async def width_y(self, instance, value):
        return await self._put(instance, value, "width_y")

    @red.putter
    async def red(self, instance, value):
        return await self._put(instance, value, "red")

    @green.putter
    async def green(self, instance, value):
        return await self._put(instance, value, "green")

    @blue.putter
    async def blue(self, instance, value):
        return await self._put(instance, value, "blue")

    @display_text.putter
    async def display_text(self, instance, value):
        return await self._put(instance, value, "display_text", text)

    @time_stamp_format.putter
    async def time_stamp_format(self, instance, value):
        return await self._put(instance, value, "time_stamp_format", text)


class NDOverlay(NDPluginBase):
    """NDOverlay.template (which includes NDPluginBase.template), with ``OVERLAYS`` overlays at ``1:``...``8:``."""

    plugin_type = "NDPluginOverlay"
    passes_input_on = False
    autosave_fields = tuple(f"{n}:{name}" for n in range(1, OVERLAYS + 1) for name in (
        "Use", "Name", "Shape", "DrawMode", "PositionX", "PositionY", "SizeX", "SizeY", "WidthX", "WidthY", "Red",
        "Green", "Blue", "DisplayText", "TimeStampFormat", "Font"))

    max_size_x_rbv = longin("MaxSizeX_RBV", doc="size of the input array in X")
    max_size_y_rbv = longin("MaxSizeY_RBV", doc="size of the input array in Y")

    def __init__(self, prefix: str, *, macros: dict | None = None, **kwargs) -> None:
        super().__init__(prefix, macros=macros, **kwargs)
        self.drawing = compute.Overlays(OVERLAYS)
        self.overlays = [NDOverlayN(f"{prefix}{n + 1}:", settings=settings,
                                    macros={**self.macros, "NAME": NAMES[n] if n < len(NAMES) else ""})
                         for n, settings in enumerate(self.drawing.overlays)]
        for overlay in self.overlays:
            self.pvdb.update(overlay.pvdb)

    async def process(self, frame: Frame) -> str | None:
        x, y = compute.Overlays.max_size(frame.data, frame.color_mode)
        if (x, y) != (self.max_size_x_rbv.value, self.max_size_y_rbv.value):
            await self.max_size_x_rbv.write(x)
            await self.max_size_y_rbv.write(y)
            for overlay in self.overlays:
                await overlay.max_size(x, y)
        out = self.drawing.draw(frame.data, frame.color_mode, frame.timestamp)
        return await self.pass_on(frame if out is frame.data else frame.derived(out))
