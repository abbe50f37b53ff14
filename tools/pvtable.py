"""Print the IOC's PVs as Markdown, from the IOC's own PV database (not typed by hand).

``python -m tools.pvtable`` prints the summary table docs/pvs.md shows;
``python -m tools.pvtable --full`` every PV with its type, access and description.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from caproto import ChannelType

from ioc.beamline import DEFAULT_PREFIX, BeamlineIOC, build_ioc

GROUPS = [
    ("mtr:dotx", "motor record, spot x (mm); all motor-record fields: .VAL .RBV .DMOV .STOP .VELO .HLM ...; "
                 "its _able (motor.db) and :scanParms (sscan's scanParms.db)"),
    ("mtr:doty", "motor record, spot y (mm), its _able and :scanParms"),
    ("mtr:", "motorUtil.db: allstop stops every motor; alldone, moving, movingDiff"),
    ("ring:", "storage-ring current (mA), top-up, read-only"),
    ("dot:cam1:", "areaDetector driver (ADBase + simDetector records); AcquireTime is the exposure (s)"),
    ("dot:TIFF1:", "NDFileTIFF: one TIFF file per frame, never outside the data root"),
    ("dot:HDF1:", "NDFileHDF5: frames into HDF5 files (Single, Capture, Stream; SWMR), never outside the data root"),
    ("dot:image1:", "NDPluginStdArrays: ArrayData is the last frame, for live viewers"),
    ("dot:Stats1:TS:", "NDPluginTimeSeries: Stats1's statistics frame by frame, into Stats1:TSTotal ..."),
    ("dot:Stats1:", "NDPluginStats: total, min/max, mean, sigma, centroid"),
    ("dot:Pva1:", "NDPluginPva: controls of `dot:Pva1:Image`, the frame as an NTNDArray over PV Access (`--pva`)"),
    ("dot:ROI1:", "NDPluginROI: a region, binned, reversed, scaled, converted; `ROI2:`-`ROI4:` the same"),
    ("dot:ROI2:", "NDPluginROI"),
    ("dot:ROI3:", "NDPluginROI"),
    ("dot:ROI4:", "NDPluginROI"),
    ("dot:Proc1:", "NDPluginProcess: background, flat field, offset/scale, clipping, recursive filter"),
    ("dot:Trans1:", "NDPluginTransform: the eight rotations and mirrorings"),
    ("dot:Over1:", "NDPluginOverlay and its overlays `1:`-`8:` (1-4 follow ROI1-4): drawn into the image passed on"),
    ("dot:CC1:", "NDPluginColorConvert: mono to RGB1/2/3 (false colour) and back"),
    ("dot:CB1:", "NDPluginCircularBuff: frames from before and after a trigger (PV or calc of attributes)"),
    ("dot:ROIStat1:", "NDPluginROIStat and its regions `1:`-`8:`: total, min, max, mean, net; time series"),
    ("sim:", "simulation controls: TimeScale, Seed, RingMode, Time, DataRoot; faults on demand: BeamDump, "
             "RefillTime, CamFault, MotorStall, Freeze, ClearFaults (docs/faults.md); the access "
             "security file: ACFFile, ACFReload, ACFMessage (docs/access_security.md)"),
]
KEY_PVS = {
    "dot:cam1:": ["Acquire", "AcquireTime", "ImageMode", "NumImages", "ArrayCounter_RBV", "DetectorState_RBV",
                  "SimMode"],
    "dot:HDF1:": ["FileWriteMode", "Capture", "NumCapture", "SWMRMode", "FullFileName_RBV", "NumCaptured_RBV"],
    "dot:Pva1:": ["PvName_RBV", "EnableCallbacks", "MinCallbackTime", "ArrayCounter_RBV"],
    "dot:TIFF1:": ["FilePath", "FileName", "FileTemplate", "FileNumber", "FullFileName_RBV", "WriteMessage"],
    "dot:image1:": ["ArrayData", "ArraySize0_RBV", "ArraySize1_RBV", "MinCallbackTime"],
    "dot:Stats1:": ["Total_RBV", "MaxValue_RBV", "CentroidX_RBV", "CentroidY_RBV", "TSTotal"],
    "dot:Stats1:TS:": ["TSAcquire", "TSAcquireMode", "TSNumPoints", "TSCurrentPoint"],
    "dot:ROI1:": ["NDArrayPort", "MinX", "SizeX", "BinX", "ArraySizeX_RBV"],
    "dot:ROI2:": [], "dot:ROI3:": [], "dot:ROI4:": [],
    "dot:Proc1:": ["SaveBackground", "EnableBackground", "EnableFilter", "NumFilter", "FilterType"],
    "dot:Trans1:": ["Type"],
    "dot:Over1:": ["1:Use", "1:Shape", "1:PositionX", "1:SizeX", "1:Green"],
    "dot:CC1:": ["ColorModeOut", "FalseColor"],
    "dot:CB1:": ["PreCount", "PostCount", "Capture", "Trigger", "TriggerCalc", "StatusMessage"],
    "dot:ROIStat1:": ["1:Use", "1:MinX", "1:SizeX", "1:Total_RBV", "TSControl"],
    "sim:": ["TimeScale", "Seed", "RingMode", "Time", "DataRoot", "BeamDump", "RefillTime", "CamFault", "MotorStall",
             "Freeze", "ClearFaults", "ACFReload"],
    "ring:": ["current"],
    "mtr:dotx": ["", "_able", ":scanParms"],
    "mtr:doty": ["", "_able", ":scanParms"],
    "mtr:": ["allstop", "alldone", "moving"],
}
MINI_PREFIX = "mini:"
MINI_GROUPS = [
    ("current", "ring current (mA), the beamline's ring", ["current"]),
    ("ph:", "pinhole point detector on its motor", ["det", "exp", "mtr", "vel"]),
    ("edge:", "knife-edge point detector on its motor", ["det", "exp", "mtr", "vel"]),
    ("slit:", "slit point detector on its motor", ["det", "exp", "mtr", "vel"]),
    ("dot:", "the example's camera: the spot image as a float waveform", ["det", "img_sum", "exp", "mtrx", "mtry",
                                                                        "shutter_open", "ArraySize_RBV"]),
]


def mini_lines(ioc: BeamlineIOC) -> list[str]:
    """Table rows of caproto's mini_beamline names (``--mini-beamline``, prefix ``mini:``)."""
    mini = ioc.add_mini_beamline(MINI_PREFIX)
    lines = []
    for group, what, keys in MINI_GROUPS:
        count = sum(1 for name in mini if name[len(MINI_PREFIX):].startswith(group))
        lines.append(f"| `{MINI_PREFIX}{group}` (`--mini-beamline`) | {count} | {what} | "
                     + ", ".join(f"`{k}`" for k in keys) + " |")
    return lines


def ad_pv_names(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The areaDetector PVs (``dot:cam1:...``, plugins), without the IOC prefix."""
    return sorted(name[len(prefix):] for name in build_ioc(prefix).pvdb if name[len(prefix):].startswith("dot:"))


def _type(chan) -> str:
    kind = chan.data_type
    name = {ChannelType.DOUBLE: "double", ChannelType.FLOAT: "float", ChannelType.LONG: "long",
            ChannelType.INT: "short", ChannelType.ENUM: "enum", ChannelType.STRING: "string",
            ChannelType.CHAR: "char"}.get(kind, kind.name.lower())
    if chan.max_length > 1:
        name += f"[{chan.max_length}]"
    return name


def served(prefix: str = DEFAULT_PREFIX) -> BeamlineIOC:
    """The IOC's PV groups with the access security PVs ``beamline-ioc`` adds (``sim:ACF*``)."""
    ioc = build_ioc(prefix)
    ioc.enforce_access_security()
    return ioc


def summary(prefix: str = DEFAULT_PREFIX) -> str:
    """Markdown: each PV group, how many PVs it has and the ones to know."""
    ioc = served(prefix)
    counts: dict[str, int] = defaultdict(int)
    for name in ioc.pvdb:
        for group, _ in GROUPS:
            if name[len(prefix):].startswith(group):
                counts[group] += 1
                break
    lines = [f"| PVs (prefix `{prefix}`) | count | what | the ones to know |", "|---|---|---|---|"]
    for group, what in GROUPS:
        keys = ", ".join(f"`{k}`" if k else "the record itself" for k in KEY_PVS[group]) or "as `ROI1:`"
        lines.append(f"| `{group}` | {counts[group]} | {what} | {keys} |")
    lines.append(f"| all | {len(ioc.pvdb)} | served by one caproto process (`beamline-ioc --list-pvs`) | |")
    lines += mini_lines(ioc)
    lines.append(f"| all with `--mini-beamline` | {len(ioc.pvdb)} | caproto's `ioc_examples/mini_beamline` "
                 "names too, on this IOC's ring and physics | |")
    return "\n".join(lines)


def full(prefix: str = DEFAULT_PREFIX) -> str:
    """Markdown: every PV, its CA type, whether clients may write it, and its description."""
    ioc = served(prefix)
    lines = ["| PV | type | access | description |", "|---|---|---|---|"]
    for name, chan in sorted(ioc.pvdb.items()):
        access = "read-only" if getattr(chan.pvspec, "read_only", False) else "read/write"
        doc = (chan.pvspec.doc or "").replace("|", "/").splitlines()[0] if chan.pvspec.doc else ""
        lines.append(f"| `{name}` | {_type(chan)} | {access} | {doc} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=DEFAULT_PREFIX)
    parser.add_argument("--full", action="store_true", help="every PV, not the summary")
    args = parser.parse_args(argv)
    print(full(args.prefix) if args.full else summary(args.prefix))


if __name__ == "__main__":
    main()
