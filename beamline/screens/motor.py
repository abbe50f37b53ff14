"""A motor's detail display (``P=BL:mtr:,M=dotx``), laid out as the motor module's
``motorx_more``: user and dial columns for the high limit, readback, drive and low limit;
tweak and jog; stop/pause/move/go; calibration."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QWidget

from beamline.screens.widgets import Pane, ScreenDisplay, button, column, entry, lamp, menu, readback, row


class MotorDisplay(ScreenDisplay):
    title = "{P}{M}"

    def build(self) -> QWidget:
        m = self.macros_["P"] + self.macros_["M"]
        pane = Pane(f"{m}")
        pane.row("Description", readback(m + ".DESC"), readback(m + ".DTYP"))
        pane.row("Status", readback(m + ".STAT"), QLabel("soft limit"), lamp(m + ".LVIO"))
        pane.row("", QLabel("User"), QLabel("Dial"))
        pane.row("Hi limit", entry(m + ".HLM"), entry(m + ".DHLM"), QLabel("switch"), lamp(m + ".HLS"))
        pane.row("Readback", readback(m + ".RBV"), readback(m + ".DRBV"), QLabel("done"), lamp(m + ".DMOV"))
        pane.row("Drive", entry(m + ".VAL"), entry(m + ".DVAL"), readback(m + ".EGU"))
        pane.row("Lo limit", entry(m + ".LLM"), entry(m + ".DLLM"), QLabel("switch"), lamp(m + ".LLS"))
        pane.row("Tweak", button(m + ".TWR", "<", 1), entry(m + ".TWV"), button(m + ".TWF", ">", 1))
        pane.row("Jog", button(m + ".JOGR", "Go-", 1), button(m + ".JOGF", "Go+", 1))
        pane.row("Stop/Pause/Move/Go", menu(m + ".SPMG"), button(m + ".STOP", "STOP", 1))
        pane.row("Calibration", menu(m + ".SET"), readback(m + ".SET"))
        speeds = Pane("Dynamics")
        for label, field in (("Speed (EGU/s)", ".VELO"), ("Base speed", ".VBAS"), ("Max. speed", ".VMAX"),
                             ("Accel. time (s)", ".ACCL"), ("Retry deadband", ".RDBD"), ("Offset", ".OFF")):
            speeds.row(label, entry(m + field))
        speeds.row("Direction", menu(m + ".DIR"))
        speeds.row("Offset mode", menu(m + ".FOFF"))
        return row(column(pane), column(speeds))


intelclass = MotorDisplay
