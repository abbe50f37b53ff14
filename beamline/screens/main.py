"""The beamline's main display (``P=BL:``): the two motors, the ring current as a strip
chart, the camera with its live image and Stats1's total and centroid, the TIFF file plugin,
the fault controls under ``sim:``, and the IOC's refusals of puts. Buttons open the detail
displays of the camera, the plugins and the motors."""

from __future__ import annotations

import logging

from pydm.widgets import PyDMChannel, PyDMImageView, PyDMTimePlot
from pydm.widgets.logdisplay import PyDMLogDisplay
from qtpy.QtCore import QObject, QTimer, Slot
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QGridLayout, QLabel, QWidget

from beamline.screens.refusals import LOG, watch_new_connections
from beamline.screens.widgets import (
    Pane,
    ScreenDisplay,
    button,
    ca,
    column,
    entry,
    lamp,
    menu,
    readback,
    related,
    row,
)

MOTORS = ("dotx", "doty")
PLUGINS = ("TIFF1", "HDF1", "Stats1", "image1", "Pva1")
IMAGE_SIZE = (560, 420)  #: the image widget's size in pixels (the sensor's default shape)


def motors(p: str) -> Pane:
    pane = Pane("Motors")
    grid: QGridLayout = pane.grid
    for col, heading in enumerate(("", "readback", "setpoint", "done", "low limit", "high limit",
                                   "LLS", "HLS", "soft limit", "", ""), start=0):
        grid.addWidget(QLabel(heading), 0, col)
    for line, name in enumerate(MOTORS, start=1):
        m = f"{p}mtr:{name}"
        widgets = [QLabel(name), readback(m + ".RBV", units=True), entry(m + ".VAL"), lamp(m + ".DMOV"),
                   entry(m + ".LLM", width=90), entry(m + ".HLM", width=90), lamp(m + ".LLS"), lamp(m + ".HLS"),
                   lamp(m + ".LVIO"), button(m + ".STOP", "Stop", 1),
                   related("More...", "motor", {"P": f"{p}mtr:", "M": name})]
        for col, widget in enumerate(widgets):
            widget.setObjectName(f"{name}_{col}")
            grid.addWidget(widget, line, col)
    return pane


def ring(p: str) -> Pane:
    pane = Pane("Ring current")
    plot = PyDMTimePlot(background=QColor("white"))
    plot.setObjectName("ring_plot")
    plot.addYChannel(y_channel=ca(f"{p}ring:current"), name="ring current (mA)", color=QColor("darkblue"), lineWidth=2)
    plot.setTimeSpan(120)
    plot.setShowLegend(False)
    plot.setMinimumSize(420, 180)
    pane.grid.addWidget(plot, 0, 0, 1, 3)
    pane.row("Current", readback(f"{p}ring:current", units=True))
    return pane


def camera(p: str) -> Pane:
    c, s = f"{p}dot:cam1:", f"{p}dot:Stats1:"
    pane = Pane("Camera")
    pane.row("Acquire", button(c + "Acquire", "Start", 1), button(c + "Acquire", "Stop", 0),
             readback(c + "Acquire_RBV"))
    pane.setting("Exposure (s)", c, "AcquireTime")
    pane.choice("Image mode", c, "ImageMode")
    pane.show("Detector state", c + "DetectorState_RBV")
    pane.show("Status", c + "StatusMessage_RBV", text=True)
    pane.show("Image counter", c + "ArrayCounter_RBV")
    pane.show("Stats1 total", s + "Total_RBV")
    pane.row("Stats1 centroid X, Y", readback(s + "CentroidX_RBV"), readback(s + "CentroidY_RBV"))
    pane.row("Detail", related("Camera...", "camera", {"P": f"{p}dot:", "R": "cam1:"}))
    pane.row("Plugins", *(related(name, "plugin", {"P": f"{p}dot:", "R": f"{name}:"}) for name in PLUGINS))
    return pane


def image(p: str) -> Pane:
    pane = Pane("Live image (image1:ArrayData)")
    view = PyDMImageView(image_channel=ca(f"{p}dot:image1:ArrayData"),
                         width_channel=ca(f"{p}dot:image1:ArraySize0_RBV"))
    view.setObjectName("image")
    view.readingOrder = PyDMImageView.ReadingOrder.Clike  # ArrayData holds rows of ArraySize0 pixels
    view.normalizeData = True
    view.showAxes = True
    view.getView().setAspectLocked(True)
    view.setMinimumSize(*IMAGE_SIZE)
    pane.grid.addWidget(view, 0, 0, 1, 3)
    pane.row("Size X, Y", readback(f"{p}dot:image1:ArraySize0_RBV"), readback(f"{p}dot:image1:ArraySize1_RBV"))
    return pane


def file_plugin(p: str) -> Pane:
    f = f"{p}dot:TIFF1:"
    pane = Pane("File (TIFF1)")
    pane.row("Path", entry(f + "FilePath", text=True, width=240), readback(f + "FilePathExists_RBV"))
    pane.row("Name", entry(f + "FileName", text=True, width=240))
    pane.show("Last file", f + "FullFileName_RBV", text=True)
    pane.show("Write status", f + "WriteStatus")
    return pane.show("Write message", f + "WriteMessage", text=True)


def faults(p: str) -> Pane:
    s = f"{p}sim:"
    pane = Pane("Faults (sim:)")
    pane.row("Beam dump", menu(s + "BeamDump"), QLabel("refill (s)"), entry(s + "RefillTime", width=60))
    pane.row("Camera fault", menu(s + "CamFault"))
    pane.row("Motor stall", menu(s + "MotorStall"))
    pane.row("Freeze (s)", entry(s + "Freeze", width=60))
    return pane.row("", button(s + "ClearFaults", "Clear faults", 1))


def messages() -> Pane:
    pane = Pane("Messages")
    log = PyDMLogDisplay(logname=LOG, level=logging.INFO)
    log.setObjectName("messages")
    log.setMinimumHeight(90)
    log.setMaximumHeight(130)
    pane.grid.addWidget(log, 0, 0)
    return pane


class BeamlineDisplay(ScreenDisplay):
    title = "Beamline {P}"

    def build(self) -> QWidget:
        p = self.macros_.get("P", "BL:")
        self._lvio = [LimitWatcher(f"{p}mtr:{name}", self) for name in MOTORS]
        # PyDM connects on a thread pool: watch for refusals on each connection it makes.
        self._refusals = QTimer(self)
        self._refusals.timeout.connect(watch_new_connections)
        self._refusals.start(100)
        return row(column(motors(p), ring(p), faults(p)), column(camera(p), file_plugin(p), messages()),
                   column(image(p)))


class LimitWatcher(QObject):
    """Logs a move the motor record refused: ``.LVIO`` 1, the target is beyond a soft limit.
    A QObject of the GUI thread: PyDM delivers values by queued signals."""

    def __init__(self, motor: str, parent: QObject) -> None:
        super().__init__(parent)
        self.motor = motor
        self.channel = PyDMChannel(address=ca(motor + ".LVIO"), value_slot=self.changed)
        self.channel.connect()

    @Slot(int)
    def changed(self, value: int) -> None:
        if value:
            logging.getLogger(LOG).error("%s: target beyond the soft limits (LVIO): not moved", self.motor)


intelclass = BeamlineDisplay
