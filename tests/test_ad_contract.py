"""The areaDetector PVs against the templates they stand for (ADCore, ADSimDetector).

``tests/data/adcore_templates.json`` is derived from the templates by
``tools/derive_adcore_table.py`` (the commits it read are in the file). Every record the
templates define for ``cam1:`` (simDetector.template), ``TIFF1:`` (NDFileTIFF.template),
``image1:`` (NDStdArrays.template), ``Stats1:`` (NDStats.template), ``Stats1:TS:``
(NDTimeSeries.template), ``ROI1:``-``ROI4:`` (NDROI.template), ``Proc1:`` (NDProcess.template),
``Trans1:`` (NDTransform.template), ``Over1:`` (NDOverlay.template and NDOverlayN.template for
``Over1:1:``-``8:``), ``CC1:`` (NDColorConvert.template), ``CB1:`` (NDCircularBuff.template)
and ``ROIStat1:`` (NDROIStat.template and NDROIStatN.template for ``ROIStat1:1:``-``8:``) is
compared with the IOC's: its record type, its menu (ZNAM/ONAM, ZRST...) and each state's alarm severity
(ZSV/OSV, ZRSV...), the fields the template sets (which
the record type must have), EGU, PREC, FTVL, NELM and the start-up value of the settings the
template initialises (PINI records' VAL). Every difference must be listed in DEVIATIONS with
the reason; a listed difference that no longer occurs fails too, so the list stays true.

Not compared: DESC (the templates set none; ours is the template's comment, shortened);
input records' VAL (the driver overwrites it through I/O Intr at start-up); values given by
macros of the IOC's start-up script ($(NDARRAY_PORT), $(XSIZE), $(TYPE)...); links and
processing fields (DTYP, INP/OUT, FLNK, CALC, INPA...: the IOC posts every value itself, so
SCAN reads I/O Intr on every input record and Passive on outputs, whatever the template's).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from caproto import ChannelType

from ioc.beamline import build_ioc

TABLE = json.loads((Path(__file__).parent / "data" / "adcore_templates.json").read_text())
PREFIX = "CT:"
SEVERITY = ("NO_ALARM", "MINOR", "MAJOR", "INVALID")
MENU_FIELDS = ["ZRST", "ONST", "TWST", "THST", "FRST", "FVST", "SXST", "SVST", "EIST", "NIST", "TEST", "ELST",
               "TVST", "TTST", "FTST", "FFST"]
_DRIVER_SETS = "the driver sets it at start-up, as the real driver does"

# (plugin prefix or '*' for every plugin, record, aspect) -> why the IOC differs.
DEVIATIONS: dict[tuple[str, str, str], str] = {
    # A simDetector IOC is configured by its start-up script; ours is a 640 x 480 UInt32 camera.
    ("cam1:", "DataType", "VAL"): "$(DATATYPE=0) is Int8 by default; the simulated sensor counts in UInt32 "
                                  "(simDetectorConfig's dataType argument, 5)",
    ("cam1:", "SizeX", "VAL"): "template VAL 1 is replaced at start-up by the full sensor width, as the "
                               "example IOC's autosave file does; a 1-pixel region would surprise every user",
    ("cam1:", "SizeY", "VAL"): "as SizeX: the full sensor height",
    ("cam1:", "SimMode", "menu"): "a fifth state, BeamSpot (the default), is this IOC's own pattern: the spot "
                                  "the motors move; ADSimDetector's four keep their indices",
    ("cam1:", "SimMode_RBV", "menu"): "as SimMode",
    # Records the current templates no longer define but clients still use.
    ("*", "PoolMaxBuffers", "extra"): "ADCore R2 NDArrayBase.template; ophyd's ADBase/PluginBase connect to it",
    ("TIFF1:", "FileNumber_Sync", "extra"): "ADCore R2 NDFile.template; ophyd's FilePlugin references it",
    ("TIFF1:", "FileNumber_write", "extra"): "ADCore R2 NDFile.template; ophyd's FilePlugin references it",
    **{("Stats1:", name, "extra"): "ADCore R2 NDStats.template (R3 moved it to NDTimeSeries at Stats1:TS:, "
       "which it acts on here); ophyd's StatsPlugin references it"
       for name in ("TSControl", "TSRead", "TSNumPoints", "TSCurrentPoint", "TSAcquiring")},
    **{("Proc1:", name, "extra"): "ADCore NDProcess.template before R3-13 (renamed HighClipThresh/HighClipValue, "
       "LowClip...); ophyd's ProcessPlugin references it; a put sets the threshold and the value"
       for name in ("HighClip", "HighClip_RBV", "LowClip", "LowClip_RBV")},
    **{("Trans1:", name, "extra"): "ADCore R1 NDTransform.template (removed in R2-1, Type replaced them); "
       "ophyd's TransformPlugin references it; served, holds what is written, does nothing"
       for name in ("Name", "OriginLocation", "OriginLocation_RBV", "Type1", "Type2", "Type3", "Type4",
                    *(f"T{t}MaxSize{d}" for t in range(1, 5) for d in range(3)))},
    **{("Proc1:", name, "fields"): "sseq is served with the seq record's fields (caproto has no sseq): its "
       "string values STR1-STRA are sseq's own; reading a file into Proc1 is not simulated"
       for name in ("ReadBackgroundTIFFSeq", "ReadFlatFieldTIFFSeq")},
}
# Deviations another branch may remove: their absence is not an error here. (image1:MinCallbackTime
# is the template's 0: the server keeps each viewer's newest frame instead.)
PENDING: set[tuple[str, str, str]] = set()


def _value_matches(chan, text: str) -> bool:
    value = chan.value
    try:
        if chan.data_type == ChannelType.ENUM:  # a string, or an index where states share a name
            return (value if isinstance(value, int) else chan.enum_strings.index(value)) == int(text)
        if chan.data_type in (ChannelType.DOUBLE, ChannelType.FLOAT):
            return float(value) == float(text)
        if chan.data_type in (ChannelType.LONG, ChannelType.INT):
            return int(value) == int(float(text))
    except ValueError:
        return False
    return str(value) == text


def _served_fields(chan) -> set[str]:
    return {prop.pvspec.name for prop in chan._record_class._pvs_.values()}


@functools.lru_cache(maxsize=1)
def _ioc():
    return build_ioc(PREFIX)  # only read: one for the module


@functools.lru_cache(maxsize=1)
def differences() -> dict[tuple[str, str, str], str]:
    """Every way the IOC's areaDetector records differ from the templates."""
    ioc = _ioc()
    found: dict[tuple[str, str, str], str] = {}
    for plugin, records in TABLE["plugins"].items():
        base = f"{PREFIX}dot:{plugin}"
        inner = [f"{PREFIX}dot:{p}" for p in TABLE["plugins"] if p != plugin and p.startswith(plugin)]  # Stats1:TS:
        served = {name[len(base):]: chan for name, chan in ioc.pvdb.items()
                  if name.startswith(base) and not any(name.startswith(other) for other in inner)}
        for name, rec in records.items():
            fields, rtype = rec["fields"], rec["type"]
            chan = served.get(name)
            if chan is None:
                found[(plugin, name, "missing")] = rtype
                continue
            if chan.reported_record_type != rtype:
                found[(plugin, name, "type")] = f"{rtype}, served as {chan.reported_record_type}"
            if rtype in ("bo", "bi", "busy"):
                menu = (fields.get("ZNAM", ""), fields.get("ONAM", ""))
            elif rtype in ("mbbo", "mbbi"):
                menu = [fields.get(f, "") for f in MENU_FIELDS]
                while menu and not menu[-1]:
                    menu.pop()
                menu = tuple(menu)
            else:
                menu = None
            if menu is not None and tuple(chan.enum_strings) != menu:
                found[(plugin, name, "menu")] = f"{menu}, served {tuple(chan.enum_strings)}"
            if menu is not None:
                names = ["ZSV", "OSV"] if rtype in ("bo", "bi", "busy") else [f[:2] + "SV" for f in MENU_FIELDS]
                wanted = tuple(fields.get(f, "NO_ALARM") for f in names[:len(menu)])
                served_sev = tuple(SEVERITY[int(sev)] for sev in chan._state_severities) or \
                    ("NO_ALARM",) * len(menu)
                if served_sev != wanted:
                    found[(plugin, name, "severities")] = f"{wanted}, served {served_sev}"
            missing = sorted(set(fields) - {"VAL"} - _served_fields(chan))
            if missing:
                found[(plugin, name, "fields")] = f"record has no {missing}"
            if chan.data_type in (ChannelType.DOUBLE, ChannelType.LONG):
                if (chan.units or "") != fields.get("EGU", ""):
                    found[(plugin, name, "EGU")] = f"{fields.get('EGU', '')!r}, served {chan.units!r}"
            if chan.data_type == ChannelType.DOUBLE and chan.max_length == 1:
                if chan.precision != int(fields.get("PREC", 0)):
                    found[(plugin, name, "PREC")] = f"{fields.get('PREC', 0)}, served {chan.precision}"
            if "VAL" in fields and "$(" not in fields["VAL"] and (fields.get("PINI") == "YES" or not chan.pvspec.read_only):
                if not _value_matches(chan, fields["VAL"]):
                    found[(plugin, name, "VAL")] = f"{fields['VAL']!r}, served {chan.value!r}"
            if rtype in ("waveform", "subArray"):
                ftvl = chan.get_field("FTVL").value
                if "$(" not in fields.get("FTVL", "$(") and ftvl != fields["FTVL"]:
                    found[(plugin, name, "FTVL")] = f"{fields['FTVL']}, served {ftvl}"
                if fields.get("NELM", "").isdigit() and int(fields["NELM"]) != chan.max_length:
                    found[(plugin, name, "NELM")] = f"{fields['NELM']}, served {chan.max_length}"
        for name in served:
            if name not in records:
                found[(plugin, name, "extra")] = "not in the templates"
    return found


def _justification(key: tuple[str, str, str]) -> str | None:
    plugin, name, aspect = key
    return DEVIATIONS.get(key) or DEVIATIONS.get(("*", name, aspect))


def test_the_table_covers_the_templates_of_every_plugin():
    # A plugin added to the IOC (HDF1:, Pva1:...) joins PLUGINS in derive_adcore_table.py.
    assert {"cam1:", "TIFF1:", "image1:", "Stats1:", "Stats1:TS:", "ROI1:", "ROI4:", "Proc1:", "Trans1:", "Over1:",
            "CC1:", "CB1:", "ROIStat1:"} <= set(TABLE["plugins"]) and not TABLE["pending_plugins"]
    assert len(TABLE["templates"]) >= 8 and all(TABLE["sources"].values())
    # A sample of what the derivation must have read, to catch a parser that reads nothing.
    assert TABLE["plugins"]["cam1:"]["AcquireTime"]["fields"]["VAL"] == "1.0"
    assert TABLE["plugins"]["TIFF1:"]["FileFormat"]["fields"]["ZRST"] == "TIFF"
    assert TABLE["plugins"]["Stats1:"]["CentroidThreshold"]["type"] == "ao"
    assert TABLE["plugins"]["Stats1:TS:"]["TSAcquire"]["type"] == "busy"
    assert TABLE["plugins"]["Over1:"]["1:PositionXLink"]["fields"]["DOL"] == "$(P)ROI1:MinX_RBV CP MS"
    assert TABLE["plugins"]["ROIStat1:"]["8:Total_RBV"]["type"] == "ai"


def test_every_difference_from_the_templates_is_listed_with_its_reason():
    found = differences()
    unlisted = {key: what for key, what in found.items() if _justification(key) is None}
    assert not unlisted, "differences from the ADCore/ADSimDetector templates with no reason in DEVIATIONS:\n" + \
        "\n".join(f"  {key}: {what}" for key, what in sorted(unlisted.items()))


def test_every_listed_deviation_still_occurs():
    found = differences()
    plugins = TABLE["plugins"]
    stale = []
    for plugin, name, aspect in DEVIATIONS:
        if (plugin, name, aspect) in PENDING:
            continue
        where = plugins if plugin == "*" else [plugin]
        if not any((p, name, aspect) in found for p in where):
            stale.append((plugin, name, aspect))
    assert not stale, f"listed in DEVIATIONS but no longer different: {stale}"


@pytest.mark.parametrize("plugin,name,value", [
    ("cam1:", "AcquireTime", 1.0), ("cam1:", "AcquirePeriod", 0.0), ("cam1:", "ImageMode", "Continuous"),
    ("cam1:", "NumImages", 1), ("cam1:", "NumExposures", 1), ("cam1:", "TriggerMode", "Internal"),
    ("TIFF1:", "FileWriteMode", "Single"), ("TIFF1:", "AutoIncrement", "Yes"), ("TIFF1:", "NumCapture", 1),
    ("Stats1:", "CentroidThreshold", 1.0), ("Stats1:", "ComputeCentroid", "No"),
    ("Stats1:", "ComputeStatistics", "Yes"), ("Stats1:", "HistMax", 255.0),
    ("Stats1:TS:", "TSAveragingTime", 0.1), ("Stats1:TS:", "TSRead", "Read"),
    ("Stats1:TS:", "NDArrayAddress", 1),
    ("ROI2:", "SizeX", 1000000), ("ROI2:", "DataTypeOut", "Automatic"), ("Proc1:", "ScaleFlatField", 255.0),
    ("Proc1:", "NumFilter", 1), ("Trans1:", "Type", "None"), ("Over1:", "3:Shape", "Rectangle"),
    ("Over1:", "7:Name", "Box1"), ("CB1:", "PreCount", 100), ("CB1:", "FlushOnSoftTrg", "OnNewImage"),
    ("ROIStat1:", "1:Use", "No"), ("ROIStat1:", "5:SizeX", 1),
])
def test_defaults_are_adcores(plugin, name, value):
    """The start-up value the record table declares (its one place) is the template's."""
    fields = TABLE["plugins"][plugin][name]["fields"]
    chan = _ioc().pvdb[f"{PREFIX}dot:{plugin}{name}"]
    assert chan.value == value
    assert _value_matches(chan, fields["VAL"])
