"""The camera's detail display (``P=BL:dot:,R=cam1:``), laid out as ADSimDetector's
``simDetector`` screen: Setup and Readout on the left; Shutter, Collect and Attributes on the
right; then the simulation settings of ``simDetectorSetup``."""

from __future__ import annotations

from qtpy.QtWidgets import QWidget

from beamline.screens.widgets import Pane, ScreenDisplay, button, column, entry, menu, readback, row


def setup(p: str) -> Pane:
    pane = Pane("Setup")
    for label, name in (("asyn port", "PortName_RBV"), ("Manufacturer", "Manufacturer_RBV"), ("Model", "Model_RBV"),
                        ("Serial number", "SerialNumber_RBV"), ("Firmware version", "FirmwareVersion_RBV"),
                        ("SDK version", "SDKVersion_RBV"), ("Driver version", "DriverVersion_RBV"),
                        ("ADCore version", "ADCoreVersion_RBV")):
        pane.show(label, p + name)
    return pane.row("Connection", button(p + "AsynIO.CNCT", "Connect", 1), button(p + "AsynIO.CNCT", "Disconnect", 0),
                    readback(p + "AsynIO.CNCT"))


def readout(p: str) -> Pane:
    pane = Pane("Readout")
    pane.pair("Sensor size", p, "MaxSizeX_RBV", "MaxSizeY_RBV", entries=False)
    pane.pair("Binning", p, "BinX", "BinY")
    pane.pair("Region start", p, "MinX", "MinY")
    pane.pair("Region size", p, "SizeX", "SizeY")
    pane.row("Reverse", menu(p + "ReverseX"), readback(p + "ReverseX_RBV"), menu(p + "ReverseY"),
             readback(p + "ReverseY_RBV"))
    pane.pair("Image size", p, "ArraySizeX_RBV", "ArraySizeY_RBV", entries=False)
    pane.show("Image size (bytes)", p + "ArraySize_RBV")
    pane.setting("Gain", p, "Gain")
    pane.choice("Data type", p, "DataType")
    return pane.choice("Color mode", p, "ColorMode")


def shutter(p: str) -> Pane:
    pane = Pane("Shutter")
    pane.row("Shutter mode", menu(p + "ShutterMode"))
    pane.row("Status: Det., EPICS", readback(p + "ShutterStatus_RBV"), readback(p + "ShutterStatusEPICS_RBV"))
    pane.row("Open/Close", button(p + "ShutterControl", "Open", 1), button(p + "ShutterControl", "Close", 0))
    return pane.row("Delay: Open, Close", *(entry(p + name) for name in ("ShutterOpenDelay", "ShutterCloseDelay")))


def collect(p: str) -> Pane:
    pane = Pane("Collect")
    pane.setting("Exposure time", p, "AcquireTime")
    pane.setting("Acquire period", p, "AcquirePeriod")
    pane.setting("# Images", p, "NumImages")
    pane.show("# Images complete", p + "NumImagesCounter_RBV")
    pane.setting("# Exp./image", p, "NumExposures")
    pane.choice("Image mode", p, "ImageMode")
    pane.choice("Trigger mode", p, "TriggerMode")
    pane.row("Acquire", button(p + "Acquire", "Start", 1), button(p + "Acquire", "Stop", 0), readback(p + "Acquire_RBV"))
    pane.show("# Queued arrays", p + "NumQueuedArrays")
    pane.row("Wait for plugins", menu(p + "WaitForPlugins"))
    pane.show("Acquire busy", p + "AcquireBusy")
    pane.show("Detector state", p + "DetectorState_RBV")
    pane.show("Status", p + "StatusMessage_RBV", text=True)
    pane.show("Time remaining", p + "TimeRemaining_RBV")
    pane.setting("Image counter", p, "ArrayCounter")
    pane.show("Image rate", p + "ArrayRate_RBV")
    return pane.choice("Array callbacks", p, "ArrayCallbacks")


def attributes(p: str) -> Pane:
    pane = Pane("Attributes")
    pane.row("File", entry(p + "NDAttributesFile", text=True))
    pane.row("Macros", entry(p + "NDAttributesMacros", text=True))
    return pane.show("Status", p + "NDAttributesStatus")


def simulation(p: str) -> Pane:
    pane = Pane("Simulation setup")
    pane.choice("Simulation mode", p, "SimMode")
    pane.row("Reset", button(p + "Reset", "Reset image", 1))
    for label, name in (("Gain X", "GainX"), ("Gain Y", "GainY"), ("Offset", "Offset"), ("Noise", "Noise")):
        pane.setting(label, p, name)
    return pane


class CameraDisplay(ScreenDisplay):
    title = "Simulation Detector - {P}{R}"

    def build(self) -> QWidget:
        p = self.macros_["P"] + self.macros_["R"]
        return row(column(setup(p), readout(p)), column(shutter(p), collect(p), attributes(p)), column(simulation(p)))


intelclass = CameraDisplay
