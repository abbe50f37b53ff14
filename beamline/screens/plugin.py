"""A plugin's detail display (``P=BL:dot:,R=Stats1:``), laid out as ADCore's screens:
``NDPluginBase`` on the left, the plugin's own pane on the right (``NDFileBase`` for TIFF1 and
HDF1, with ``NDFileHDF5``'s settings for HDF1; ``NDStats``; ``NDPva``)."""

from __future__ import annotations

from qtpy.QtWidgets import QWidget

from beamline.screens.widgets import Pane, ScreenDisplay, button, column, entry, readback, row


def plugin_base(p: str) -> Pane:
    pane = Pane("Plugin")
    for label, name in (("asyn port", "PortName_RBV"), ("Plugin type", "PluginType_RBV"),
                        ("ADCore version", "ADCoreVersion_RBV"), ("Plugin version", "DriverVersion_RBV")):
        pane.show(label, p + name)
    pane.setting("Array port", p, "NDArrayPort", text=True)
    pane.setting("Array address", p, "NDArrayAddress")
    pane.choice("Enable", p, "EnableCallbacks")
    pane.setting("Min. time", p, "MinCallbackTime")
    pane.row("Queue size/free", entry(p + "QueueSize"), readback(p + "QueueFree"))
    pane.row("Array counter", button(p + "ArrayCounter", "Reset to 0", 0), readback(p + "ArrayCounter_RBV"))
    pane.show("Array rate", p + "ArrayRate_RBV")
    pane.show("Execution time (ms)", p + "ExecutionTime_RBV")
    pane.row("Dropped arrays", button(p + "DroppedArrays", "Reset to 0", 0), readback(p + "DroppedArrays_RBV"))
    pane.show("# dimensions", p + "NDimensions_RBV")
    pane.row("Array size", *(readback(p + f"ArraySize{i}_RBV") for i in range(3)))
    pane.show("Data type", p + "DataType_RBV")
    pane.show("Color mode", p + "ColorMode_RBV")
    pane.show("Unique ID", p + "UniqueId_RBV")
    pane.show("Time stamp", p + "TimeStamp_RBV")
    pane.choice("Array callbacks", p, "ArrayCallbacks")
    return pane.row("Process plugin", button(p + "ProcessPlugin", "Process", 1))


def file_base(p: str) -> Pane:
    pane = Pane("File")
    pane.row("File path", entry(p + "FilePath", text=True, width=220), readback(p + "FilePath_RBV", text=True))
    pane.row("Exists", readback(p + "FilePathExists_RBV"))
    pane.setting("Create dir. depth", p, "CreateDirectory")
    pane.row("File name", entry(p + "FileName", text=True, width=160), readback(p + "FileName_RBV", text=True))
    pane.setting("Next file #", p, "FileNumber")
    pane.setting("Temp. suffix", p, "TempSuffix", text=True)
    pane.choice("Lazy open", p, "LazyOpen")
    pane.choice("Auto increment", p, "AutoIncrement")
    pane.row("Filename format", entry(p + "FileTemplate", text=True, width=160),
             readback(p + "FileTemplate_RBV", text=True))
    pane.show("Last filename", p + "FullFileName_RBV", text=True)
    pane.row("Save file", button(p + "WriteFile", "Save", 1), readback(p + "WriteFile_RBV"))
    pane.row("Read file", button(p + "ReadFile", "Read", 1), readback(p + "ReadFile_RBV"))
    pane.choice("Auto save", p, "AutoSave")
    pane.choice("Write mode", p, "FileWriteMode")
    pane.row("# Capture", entry(p + "NumCapture"), readback(p + "NumCapture_RBV"), readback(p + "NumCaptured_RBV"))
    pane.row("Capture", button(p + "Capture", "Start", 1), button(p + "Capture", "Stop", 0),
             readback(p + "Capture_RBV"), button(p + "FreeCapture", "Free buffer", 0))
    pane.show("Write status", p + "WriteStatus")
    pane.choice("Delete driver file", p, "DeleteDriverFile")
    return pane.show("Write message", p + "WriteMessage", text=True)


def hdf5(p: str) -> Pane:
    pane = Pane("HDF5")
    pane.choice("Compression", p, "Compression")
    for label, name in (("N-bit data bits", "NumDataBits"), ("N-bit offset bits", "DataBitsOffset"),
                        ("SZip # pixels", "SZipNumPixels"), ("Zlib level", "ZLevel"), ("JPEG quality", "JPEGQuality")):
        pane.setting(label, p, name)
    pane.show("SWMR supported", p + "SWMRSupported_RBV")
    pane.choice("SWMR mode", p, "SWMRMode")
    pane.show("SWMR active", p + "SWMRActive_RBV")
    pane.show("SWMR callbacks", p + "SWMRCbCounter_RBV")
    pane.row("Flush to disk", button(p + "FlushNow", "Flush now", 1))
    pane.choice("Chunk size auto", p, "ChunkSizeAuto")
    for label, name in (("Dim0 chunk size", "NumColChunks"), ("Dim1 chunk size", "NumRowChunks"),
                        ("Frames cached per chunk", "NumFramesChunks"), ("Flush on N'th frame", "NumFramesFlush")):
        pane.setting(label, p, name)
    pane.choice("Store attributes", p, "StoreAttr")
    pane.choice("Store performance", p, "StorePerform")
    pane.show("Run time", p + "RunTime")
    pane.show("I/O speed", p + "IOSpeed")
    return pane.row("XML file name", entry(p + "XMLFileName", text=True), readback(p + "XMLValid_RBV"))


def stats(p: str) -> Pane:
    pane = Pane("Statistics")
    pane.choice("Compute statistics", p, "ComputeStatistics")
    pane.setting("Background width", p, "BgdWidth")
    pane.row("Minimum, maximum", readback(p + "MinValue_RBV"), readback(p + "MaxValue_RBV"))
    pane.row("Min. X, Y", readback(p + "MinX_RBV"), readback(p + "MinY_RBV"))
    pane.row("Max. X, Y", readback(p + "MaxX_RBV"), readback(p + "MaxY_RBV"))
    pane.row("Total, net", readback(p + "Total_RBV"), readback(p + "Net_RBV"))
    pane.row("Mean, sigma", readback(p + "MeanValue_RBV"), readback(p + "Sigma_RBV"))
    pane.choice("Compute centroid", p, "ComputeCentroid")
    pane.setting("Centroid threshold", p, "CentroidThreshold")
    pane.show("Centroid total", p + "CentroidTotal_RBV")
    for label, name in (("Centroid", "Centroid"), ("Sigma", "Sigma"), ("Skewness", "Skew"), ("Kurtosis", "Kurtosis")):
        pane.row(f"{label} X, Y", readback(p + f"{name}X_RBV"), readback(p + f"{name}Y_RBV"))
    for label, name in (("Sigma XY", "SigmaXY_RBV"), ("Eccentricity", "Eccentricity_RBV"),
                        ("Orientation", "Orientation_RBV")):
        pane.show(label, p + name)
    pane.choice("Compute profiles", p, "ComputeProfiles")
    pane.choice("Compute histogram", p, "ComputeHistogram")
    return pane


def pva(p: str) -> Pane:
    return Pane("EPICS V4 PV name").show("V4 PV name", p + "PvName_RBV")


OWN_PANES = {"TIFF": [file_base], "HDF": [file_base, hdf5], "Stats": [stats], "Pva": [pva], "image": []}


class PluginDisplay(ScreenDisplay):
    title = "{P}{R}"

    def build(self) -> QWidget:
        plugin = self.macros_["R"]
        p = self.macros_["P"] + plugin
        own = next((panes for start, panes in OWN_PANES.items() if plugin.startswith(start)), [])
        return row(column(plugin_base(p)), *(column(pane(p)) for pane in own))


intelclass = PluginDisplay
