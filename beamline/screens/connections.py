"""Which channels a PyDM display uses and whether they have connected and delivered a value."""

from __future__ import annotations

from pydm import data_plugins
from qtpy.QtWidgets import QWidget


def addresses(display: QWidget) -> set[str]:
    """The address (``ca://...``) of every channel of the display's widgets."""
    found = set()
    for widget in [display, *display.findChildren(QWidget)]:
        channels = getattr(widget, "channels", None)
        if callable(channels):
            found.update(ch.address for ch in channels() or () if ch is not None and ch.address)
    return found


def connection(address: str):
    """PyDM's connection for an address (None if PyDM has none)."""
    plugin = data_plugins.plugin_for_address(address)
    if plugin is None:
        return None
    return plugin.connections.get(plugin.get_connection_id(_Channel(address)))


def unconnected(display: QWidget) -> list[str]:
    """The display's channels (PV names) not connected, sorted."""
    out = []
    for address in addresses(display):
        conn = connection(address)
        if conn is None or not conn.connected:
            out.append(address.split("://", 1)[-1])
    return sorted(out)


def waiting_for_values(display: QWidget) -> list[str]:
    """Widgets that have not shown a value yet (their channels or names): a label without its
    value, an image view without an image, a strip chart with less than two points."""
    from pydm.widgets import PyDMImageView, PyDMTimePlot
    from pydm.widgets.base import PyDMWidget

    out = [curve.address or "curve" for plot in display.findChildren(PyDMTimePlot) for curve in curves(plot)
           if curve.points_accumulated < 2]  # a line needs two points
    for widget in display.findChildren(PyDMWidget):
        if isinstance(widget, PyDMImageView):
            if widget.getImageItem().image is None:
                out.append(widget.objectName() or "image")
        elif getattr(widget, "channel", None) and widget.value is None:
            out.append(widget.channel)
    return sorted(out)


def curves(plot) -> list:
    """A PyDM time plot's curves."""
    return [plot.curveAtIndex(i) for i in range(len(plot.getCurves()))]


class _Channel:
    """What PyDM's plugin needs of a channel to name its connection."""

    def __init__(self, address: str) -> None:
        self.address = address
