"""The building blocks of the beamline's displays: PyDM widgets on CA channels, and panes of
labelled rows laid out as areaDetector's and the motor module's screens lay theirs out (a
setting beside its readback, a menu beside its ``_RBV``, a pair of buttons for a busy record).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydm import Display
from pydm.widgets import (
    PyDMByteIndicator,
    PyDMEnumComboBox,
    PyDMLabel,
    PyDMLineEdit,
    PyDMPushButton,
    PyDMRelatedDisplayButton,
)
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

HERE = Path(__file__).resolve().parent


def ca(pv: str) -> str:
    """The PyDM address of a Channel Access PV."""
    return f"ca://{pv}"


def readback(pv: str, text: bool = False, units: bool = False) -> PyDMLabel:
    """A read-only value, coloured by its alarm; ``text`` for a char waveform holding a string."""
    label = PyDMLabel(init_channel=ca(pv))
    label.alarmSensitiveBorder = False
    label.alarmSensitiveContent = True
    label.showUnits = units
    if text:
        label.displayFormat = PyDMLabel.DisplayFormat.String
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


def entry(pv: str, text: bool = False, width: int = 80) -> PyDMLineEdit:
    """A setting typed in and sent on Return; ``text`` for a char waveform holding a string."""
    edit = PyDMLineEdit(init_channel=ca(pv))
    if text:
        edit.displayFormat = PyDMLineEdit.DisplayFormat.String
    edit.setMinimumWidth(width)
    return edit


def menu(pv: str) -> PyDMEnumComboBox:
    """An enum setting chosen from the IOC's strings."""
    return PyDMEnumComboBox(init_channel=ca(pv))


def button(pv: str, text: str, value: int | float | str = 1) -> PyDMPushButton:
    """A button that puts ``value``."""
    return PyDMPushButton(label=text, pressValue=value, init_channel=ca(pv))


def lamp(pv: str) -> PyDMByteIndicator:
    """One bit shown as a lamp (on: the value is non-zero)."""
    indicator = PyDMByteIndicator(init_channel=ca(pv))
    indicator.numBits = 1
    indicator.showLabels = False
    indicator.setFixedSize(18, 18)
    return indicator


def related(text: str, display: str, macros: dict[str, str]) -> PyDMRelatedDisplayButton:
    """A button that opens another display of this package (``camera``, ``plugin``, ``motor``)
    in a window of its own, with ``macros``."""
    widget = PyDMRelatedDisplayButton(filename=str(HERE / f"{display}.py"))
    widget.setText(text)
    widget.macros = json.dumps(macros)
    widget.openInNewWindow = True
    widget.showIcon = False
    return widget


class Pane(QGroupBox):
    """A titled pane of rows: a label, then the row's widgets (as in the modules' screens)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(6, 4, 6, 4)
        self.grid.setVerticalSpacing(3)

    def row(self, label: str, *widgets: QWidget) -> Pane:
        row = self.grid.rowCount()
        self.grid.addWidget(QLabel(label), row, 0, Qt.AlignRight)
        for column, widget in enumerate(widgets, start=1):
            self.grid.addWidget(widget, row, column)
        return self

    def setting(self, label: str, prefix: str, name: str, text: bool = False) -> Pane:
        """``name`` to type in beside ``name_RBV`` (areaDetector's pairs)."""
        return self.row(label, entry(prefix + name, text=text), readback(prefix + name + "_RBV", text=text))

    def choice(self, label: str, prefix: str, name: str, rbv: bool = True) -> Pane:
        """An enum ``name`` beside its ``name_RBV``."""
        widgets = [menu(prefix + name)] + ([readback(prefix + name + "_RBV")] if rbv else [])
        return self.row(label, *widgets)

    def show(self, label: str, pv: str, text: bool = False) -> Pane:
        return self.row(label, readback(pv, text=text))

    def pair(self, label: str, prefix: str, x: str, y: str, rbv: bool = True, entries: bool = True) -> Pane:
        """An X and a Y setting (or readback) on one row, as ADReadout's binning, region..."""
        widgets: list[QWidget] = []
        for name in (x, y):
            if entries:
                widgets.append(entry(prefix + name, width=60))
            if rbv:
                widgets.append(readback(prefix + name + ("_RBV" if entries else "")))
        return self.row(label, *widgets)


def column(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    return holder


def row(*widgets: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, alignment=Qt.AlignTop)
    return holder


class ScreenDisplay(Display):
    """A display of this beamline built in Python; ``macros`` as the module screens take
    them (``P``, ``R``, ``M``)."""

    title = "beamline"

    def __init__(self, parent=None, args=None, macros=None) -> None:
        super().__init__(parent=parent, args=args, macros=macros)
        self.macros_ = dict(macros or {})
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.build())
        self.setWindowTitle(self.title.format(**self.macros_))

    def build(self) -> QWidget:
        raise NotImplementedError

    def ui_filename(self):  # built in code, not from a .ui file
        return None

    def ui_filepath(self):
        return None
