"""Derive tests/data/module_screen_channels.json: every channel areaDetector's and the motor
module's own caQtDM screens use for this beamline's camera and motor, with what its widget
expects (a number, an enum with its strings, a string, text in a char waveform, an array).

    python tools/module_screens.py --mirror /work/.mirror

reads, from the git directories of the modules (``<mirror>/<owner>+<name>/repo``, their HEAD
commit: areaDetector/ADCore, areaDetector/ADSimDetector, epics-modules/motor, and for the
record types epics-base/epics-base, epics-modules/{sscan,busy,asyn,calc}):

* the screens (``op/ui/autoconvert/*.ui``, caQtDM, converted from the MEDM ``op/adl`` files),
  opened with the macros a user gives (``P=BL:dot:,R=cam1:``; ``P=BL:mtr:,M=dotx``), their
  ``caInclude`` composites followed with the same macros, and every widget property naming a
  channel (``channel``, ``channelB``..., a cartesian plot's ``channels_1`` pairs); the MEDM
  screens they were made from (``op/adl``, composites followed) must name the same channels;
* the databases an IOC of these modules loads for those prefixes (ADCore's templates with
  their includes, the motor record, ``motor.db``'s ``_able``, ``motorUtil.db``'s
  ``allstop``, sscan's ``scanParms.db``), and the record types' ``.dbd`` files, to tell what
  a real IOC serves on each channel: its CA type, element count and enum strings.

Related displays (``caRelatedDisplay``) are other screens, opened on demand: not followed.
The JSON is our data; the screens and databases are not copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "module_screen_channels.json"
PREFIX = "BL:"
CAMERA = {"P": f"{PREFIX}dot:"}
MOTOR = {"P": f"{PREFIX}mtr:", "M": "dotx"}

AD_UI = "ADApp/op/ui/autoconvert"
SIM_UI = "simDetectorApp/op/ui/autoconvert"
MOTOR_UI = "motorApp/op/ui/autoconvert"

# (repository, screen, macros): what a user opens for this beamline.
SCREENS = [
    ("ADSimDetector", f"{SIM_UI}/simDetector.ui", {**CAMERA, "R": "cam1:"}),
    ("ADSimDetector", f"{SIM_UI}/simDetectorSetup.ui", {**CAMERA, "R": "cam1:"}),
    *[("ADCore", f"{AD_UI}/{name}.ui", {**CAMERA, "R": "cam1:"})
      for name in ("ADSetup", "ADReadout", "ADCollect", "ADShutter", "ADAttrFile")],
    *[("ADCore", f"{AD_UI}/NDPluginBase.ui", {**CAMERA, "R": plugin})
      for plugin in ("TIFF1:", "HDF1:", "image1:", "Stats1:", "Pva1:")],
    ("ADCore", f"{AD_UI}/NDFileBase.ui", {**CAMERA, "R": "TIFF1:"}),
    ("ADCore", f"{AD_UI}/NDFileBase.ui", {**CAMERA, "R": "HDF1:"}),
    ("ADCore", f"{AD_UI}/NDFileHDF5.ui", {**CAMERA, "R": "HDF1:"}),
    ("ADCore", f"{AD_UI}/NDStats.ui", {**CAMERA, "R": "Stats1:"}),
    ("ADCore", f"{AD_UI}/NDPva.ui", {**CAMERA, "R": "Pva1:"}),
    *[("motor", f"{MOTOR_UI}/{name}.ui", MOTOR) for name in ("motorx", "motorx_more", "motorx_setup", "motorx_all")],
]

# Record prefix -> (repository, top database, macros) an IOC of these modules loads
# (ADCore's commonPlugins.cmd, the motor module's motor.db and motorUtil.db, sscan's
# scanParms.db as the motor screens' "Scan Parameters" use it: P=$(P),Q=$(M)).
DATABASES = [
    ("ADSimDetector", "simDetectorApp/Db/simDetector.template", {**CAMERA, "R": "cam1:"}),
    ("ADCore", "ADApp/Db/NDFileTIFF.template", {**CAMERA, "R": "TIFF1:"}),
    ("ADCore", "ADApp/Db/NDFileHDF5.template", {**CAMERA, "R": "HDF1:"}),
    ("ADCore", "ADApp/Db/NDStdArrays.template", {**CAMERA, "R": "image1:"}),
    ("ADCore", "ADApp/Db/NDStats.template", {**CAMERA, "R": "Stats1:"}),
    ("ADCore", "ADApp/Db/NDTimeSeries.template", {**CAMERA, "R": "Stats1:TS:"}),
    ("ADCore", "ADApp/Db/NDPva.template", {**CAMERA, "R": "Pva1:"}),
    ("motor", "motorApp/Db/motor.db", MOTOR),
    ("motor", "motorApp/Db/motorUtil.db", {"P": MOTOR["P"]}),
    ("sscan", "sscanApp/Db/scanParms.db", {"P": MOTOR["P"], "Q": MOTOR["M"]}),
]

REPOS = {  # our name -> owner+name in the mirror
    "ADCore": "areaDetector+ADCore", "ADSimDetector": "areaDetector+ADSimDetector",
    "motor": "epics-modules+motor", "base": "epics-base+epics-base", "sscan": "epics-modules+sscan",
    "busy": "epics-modules+busy", "asyn": "epics-modules+asyn", "calc": "epics-modules+calc",
}
BASE_DB = "modules/database/src/ioc/db"
RECORD_DBD = {  # record type -> (repository, dbd)
    **{rtype: ("base", f"modules/database/src/std/rec/{rtype}Record.dbd.pod") for rtype in (
        "ai", "ao", "bi", "bo", "calc", "calcout", "longin", "longout", "mbbi", "mbbo", "mbbiDirect",
        "mbboDirect", "stringin", "stringout", "waveform", "int64in", "int64out", "lsi", "lso", "aai",
        "aao", "seq", "fanout", "dfanout", "subArray", "sub", "aSub", "sel", "compress", "event")},
    "motor": ("motor", "motorApp/MotorSrc/motorRecord.dbd"),
    "scanparm": ("sscan", "sscanApp/src/scanparmRecord.dbd"),
    "busy": ("busy", "busyApp/src/busyRecord.dbd"),
    "asyn": ("asyn", "asyn/asynRecord/asynRecord.dbd"),
    "sseq": ("calc", "calcApp/src/sseqRecord.dbd"),
}

# How an IOC serves each DBF type over CA (epics-base dbDBRnewToDBRold; links as strings).
CA_TYPE = {
    "DBF_STRING": "STRING", "DBF_CHAR": "CHAR", "DBF_UCHAR": "CHAR", "DBF_SHORT": "INT",
    "DBF_USHORT": "LONG", "DBF_LONG": "LONG", "DBF_ULONG": "DOUBLE", "DBF_INT64": "DOUBLE",
    "DBF_UINT64": "DOUBLE", "DBF_FLOAT": "FLOAT", "DBF_DOUBLE": "DOUBLE", "DBF_ENUM": "ENUM",
    "DBF_MENU": "ENUM", "DBF_DEVICE": "ENUM", "DBF_INLINK": "STRING", "DBF_OUTLINK": "STRING",
    "DBF_FWDLINK": "STRING",
}
FTVL_DBF = {"CHAR": "DBF_CHAR", "UCHAR": "DBF_UCHAR", "SHORT": "DBF_SHORT", "USHORT": "DBF_USHORT",
            "LONG": "DBF_LONG", "ULONG": "DBF_ULONG", "INT64": "DBF_INT64", "UINT64": "DBF_UINT64",
            "FLOAT": "DBF_FLOAT", "DOUBLE": "DBF_DOUBLE", "ENUM": "DBF_ENUM", "STRING": "DBF_STRING"}
CA_ENUM_STATES = 16
STATES = ("ZR", "ON", "TW", "TH", "FR", "FV", "SX", "SV", "EI", "NI", "TE", "EL", "TV", "TT", "FT", "FF")

_RECORD = re.compile(r'g?record\(\s*(\w+)\s*,\s*"([^"]*)"\s*\)\s*\{(.*?)\n\s*\}', re.S)
_FIELD = re.compile(r'field\(\s*(\w+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)
_MACRO = re.compile(r"\$\((\w+)(?:=([^)]*))?\)")
_MENU = re.compile(r"menu\(\s*(\w+)\s*\)\s*\{(.*?)\n\s*\}", re.S)
_CHOICE = re.compile(r'choice\(\s*\w+\s*,\s*"([^"]*)"\s*\)')
_RECORDTYPE = re.compile(r"recordtype\(\s*(\w+)\s*\)\s*\{")
_DBD_FIELD = re.compile(r"field\(\s*(\w+)\s*,\s*(DBF_\w+)\s*\)\s*\{(.*?)\}", re.S)
_FIELD_MENU = re.compile(r"menu\(\s*(\w+)\s*\)")


class Sources:
    """The modules' files at their HEAD commits."""

    def __init__(self, mirror: Path) -> None:
        self.dirs = {name: mirror / folder / "repo" for name, folder in REPOS.items()}
        self._cache: dict[tuple[str, str], str] = {}

    def show(self, repo: str, path: str) -> str:
        key = (repo, path)
        if key not in self._cache:
            self._cache[key] = subprocess.run(["git", "-C", str(self.dirs[repo]), "show", f"HEAD:{path}"],
                                              check=True, capture_output=True, text=True).stdout
        return self._cache[key]

    def exists(self, repo: str, path: str) -> bool:
        return subprocess.run(["git", "-C", str(self.dirs[repo]), "cat-file", "-e", f"HEAD:{path}"],
                              capture_output=True).returncode == 0

    def commit(self, repo: str) -> str:
        return subprocess.run(["git", "-C", str(self.dirs[repo]), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()


def expand(text: str, macros: dict[str, str]) -> str:
    """``$(NAME)``/``$(NAME=default)`` replaced by the macro's value (or default); others kept."""
    def one(match: re.Match) -> str:
        name, default = match.groups()
        if name in macros:
            return macros[name]
        return default if default is not None else match.group(0)
    return _MACRO.sub(one, text)


# -- screens ---------------------------------------------------------------------------------


def _props(widget: ET.Element) -> dict[str, str]:
    props = {}
    for prop in widget.findall("property"):
        value = prop.find("string")
        if value is None:
            value = prop.find("enum")
        if value is not None and value.text is not None:
            props.setdefault(prop.get("name"), value.text)
    return props


def screen_channels(src: Sources, repo: str, path: str, macros: dict[str, str], shown_as: str,
                    out: list[dict], seen: tuple = ()) -> None:
    """Append one dict per (channel, widget) of a screen and of the screens it includes."""
    root = ET.fromstring(src.show(repo, path))
    for widget in root.iter("widget"):
        cls = widget.get("class")
        props = _props(widget)
        if cls == "caInclude":
            name = props["filename"].strip().replace(".adl", ".ui")
            inner = dict(macros)
            for pair in filter(None, (props.get("macro") or "").split(",")):
                key, _, value = pair.partition("=")
                inner[key.strip()] = expand(value.strip(), macros)
            where = next(((r, f"{d}/{name}") for r, d in (("ADCore", AD_UI), (repo, str(Path(path).parent)))
                          if src.exists(r, f"{d}/{name}")), None)
            if where is None:
                raise FileNotFoundError(f"{path} includes {name}, found in no module")
            if where in seen:
                continue
            screen_channels(src, *where, inner, f"{shown_as} > {name}", out, seen + ((repo, path),))
            continue
        for prop, value in props.items():
            if not prop.startswith("channel"):
                continue
            for name in filter(None, (part.strip() for part in value.split(";"))):
                entry = {"channel": expand(name, macros), "screen": shown_as, "class": cls, "property": prop}
                for key, as_ in (("formatType", "format"), ("pressMessage", "press"),
                                 ("releaseMessage", "release")):
                    if props.get(key):
                        entry[as_] = props[key].split("::")[-1]
                out.append(entry)


# -- databases and record types ---------------------------------------------------------------


def _strip_pod(text: str) -> str:
    """A .dbd.pod file without its POD documentation (``=head1`` ... ``=cut``)."""
    out, in_pod = [], False
    for line in text.splitlines():
        if line.startswith("=cut"):
            in_pod = False
        elif line.startswith("="):
            in_pod = True
        elif not in_pod:
            out.append(line)
    return "\n".join(out)


class RecordTypes:
    """Field types and menus of the record types, from their .dbd files."""

    def __init__(self, src: Sources) -> None:
        self.src = src
        self.menus: dict[str, list[str]] = {}
        self.fields: dict[str, dict[str, tuple[str, str | None, str]]] = {}
        base_files = subprocess.run(["git", "-C", str(src.dirs["base"]), "ls-tree", "--name-only", "HEAD",
                                     f"{BASE_DB}/"], check=True, capture_output=True, text=True).stdout.split()
        for path in base_files:
            if Path(path).name.startswith("menu") and path.endswith(".dbd.pod"):
                self._menus(_strip_pod(src.show("base", path)))
        self.common = self._fields(_strip_pod(src.show("base", f"{BASE_DB}/dbCommon.dbd.pod")), "base",
                                   f"{BASE_DB}/dbCommon.dbd.pod")

    def _menus(self, text: str) -> None:
        for name, body in _MENU.findall(text):
            self.menus[name] = _CHOICE.findall(body)

    def _fields(self, text: str, repo: str, path: str) -> dict:
        return {name: (dbf, (_FIELD_MENU.search(body) or [None, None])[1], f"{repo}/{path}")
                for name, dbf, body in _DBD_FIELD.findall(text)}

    def of(self, rtype: str) -> dict[str, tuple[str, str | None, str]]:
        if rtype not in self.fields:
            repo, path = RECORD_DBD[rtype]
            text = self.src.show(repo, path)
            text = _strip_pod(text) if path.endswith(".pod") else text
            self._menus(text)
            fields = dict(self.common)
            fields.update(self._fields(text[_RECORDTYPE.search(text).start():], repo, path))
            self.fields[rtype] = fields
        return self.fields[rtype]


def load_database(src: Sources, repo: str, path: str, macros: dict[str, str], records: dict) -> None:
    """Add the records of a database (its includes first, as dbLoadRecords) to ``records``:
    name -> {"type", "fields", "source"}; a later definition of a record adds to it."""
    text = src.show(repo, path)
    pos = 0
    for match in list(_INCLUDE.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        for rec in _RECORD.finditer(text, pos, end):
            rtype, name, body = rec.groups()
            body = re.sub(r"#.*", "", body)
            name = expand(name, macros)
            entry = records.setdefault(name, {"type": rtype, "fields": {}, "source": f"{repo}/{path}"})
            entry["fields"].update({key: expand(value, macros) for key, value in _FIELD.findall(body)})
        if match:
            inner = Path(path).parent / match.group(1)
            where = (repo, str(inner)) if src.exists(repo, str(inner)) else ("ADCore", f"ADApp/Db/{match.group(1)}")
            load_database(src, *where, macros, records)
            pos = match.end()


def served(channel: str, records: dict, types: RecordTypes) -> dict:
    """What a real IOC of the modules serves on ``channel``: record, CA type, count, enum strings."""
    name, _, field = channel.partition(".")
    field = field or "VAL"
    record = records.get(name)
    if record is None:
        return {"record": None}
    rtype, values = record["type"], record["fields"]
    fields = types.of(rtype)
    out = {"record": rtype, "field": field, "database": record["source"]}
    if field == "VAL" and rtype in ("waveform", "aai", "aao", "subArray"):
        dbf, count = FTVL_DBF[values.get("FTVL", "STRING")], values.get("NELM", "1")
        out["count"] = int(count) if count.isdigit() else count
    elif field == "VAL" and rtype in ("lsi", "lso"):
        dbf, out["count"] = "DBF_CHAR", int(values.get("SIZV", "41"))
    elif field in fields:
        dbf, out["count"] = fields[field][0], 1
    else:
        raise KeyError(f"{channel}: record type {rtype} has no field {field}")
    if dbf == "DBF_NOACCESS":
        raise KeyError(f"{channel}: {rtype}.{field} is not accessible")
    out["ca_type"] = CA_TYPE[dbf]
    if out["ca_type"] == "ENUM":
        if dbf == "DBF_DEVICE":
            out["enum_strings"] = None  # the device supports the IOC was built with
        elif field != "VAL" or dbf != "DBF_ENUM":
            # CA carries at most 16 choices (MAX_ENUM_STATES): menuAlarmStat's last 6 are not sent.
            out["enum_strings"] = types.menus[fields[field][1]][:CA_ENUM_STATES]
        elif rtype in ("bo", "bi", "busy"):
            out["enum_strings"] = [values.get("ZNAM", ""), values.get("ONAM", "")]
        else:
            strings = [values.get(f"{state}ST", "") for state in STATES]
            while strings and not strings[-1]:
                strings.pop()
            out["enum_strings"] = strings
    return out


def kind(served_: dict) -> str:
    """What a widget shows: 'enum', 'string', 'text' (a char waveform), 'array' or 'number'."""
    ca_type, count = served_["ca_type"], served_.get("count", 1)
    if ca_type == "ENUM":
        return "enum"
    if ca_type == "STRING":
        return "string"
    if ca_type == "CHAR" and count != 1:
        return "text"
    return "array" if count != 1 else "number"


WIDGET_NEEDS = {  # caQtDM widget class -> the kinds it can show or set
    "caMenu": {"enum"}, "caChoice": {"enum"},
    "caCartesianPlot": {"array"}, "caSlider": {"number"},
}


_ADL_CHANNEL = re.compile(r'\b(?:chan|chan[A-D]|xdata|ydata)="([^"]*)"')
_ADL_COMPOSITE = re.compile(r'"composite file"="([^";]*)[;"]')


def adl_channels(src: Sources, repo: str, path: str, macros: dict[str, str], out: set[str]) -> None:
    """The channels of the MEDM screen a caQtDM screen was converted from (composites followed)."""
    text = src.show(repo, path)
    out.update(expand(name.strip(), macros) for name in _ADL_CHANNEL.findall(text) if name.strip())
    for name in _ADL_COMPOSITE.findall(text):
        where = next(((r, f"{d}/{name}") for r, d in (("ADCore", "ADApp/op/adl"), (repo, str(Path(path).parent)))
                      if src.exists(r, f"{d}/{name}")), None)
        if where is None:
            raise FileNotFoundError(f"{path} includes {name}, found in no module")
        adl_channels(src, *where, macros, out)


def build(mirror: Path) -> dict:
    src = Sources(mirror)
    uses: list[dict] = []
    for repo, path, macros in SCREENS:
        shown = f"{Path(path).name} ({','.join(f'{k}={v}' for k, v in macros.items())})"
        screen_channels(src, repo, path, macros, shown, uses)
    medm: set[str] = set()
    for repo, path, macros in SCREENS:
        adl_channels(src, repo, path.replace("/ui/autoconvert/", "/adl/").replace(".ui", ".adl"), macros, medm)
    caqtdm = {use["channel"] for use in uses}
    problems = [f"{name}: only in the MEDM screens" for name in sorted(medm - caqtdm)]
    problems += [f"{name}: only in the caQtDM screens" for name in sorted(caqtdm - medm)]
    records: dict[str, dict] = {}
    for repo, path, macros in DATABASES:
        load_database(src, repo, path, macros, records)
    types = RecordTypes(src)
    by_channel: dict[str, list[dict]] = defaultdict(list)
    for use in uses:
        by_channel[use.pop("channel")].append(use)
    channels = []
    for name in sorted(by_channel):
        widgets = sorted({json.dumps(w, sort_keys=True) for w in by_channel[name]})
        entry = {"channel": name, "widgets": [json.loads(w) for w in widgets], **served(name, records, types)}
        if entry["record"] is None:
            problems.append(f"{name}: no record in the modules' databases")
        else:
            entry["expects"] = kind(entry)
            for widget in entry["widgets"]:
                needs = WIDGET_NEEDS.get(widget["class"])
                if needs and entry["expects"] not in needs:
                    problems.append(f"{name}: {widget['class']} on a {entry['expects']}")
        channels.append(entry)
    return {
        "sources": {repo: src.commit(repo) for repo in REPOS},
        "screens": [{"repository": repo, "screen": path, "macros": macros} for repo, path, macros in SCREENS],
        "databases": [{"repository": repo, "database": path, "macros": macros} for repo, path, macros in DATABASES],
        "problems": problems,
        "channels": channels,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, required=True,
                        help="directory holding <owner>+<name>/repo git directories of the modules")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = build(args.mirror)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(table['channels'])} channels from {len(SCREENS)} screens (caQtDM and MEDM alike) -> {args.out}")
    for problem in table["problems"]:
        print("  ", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
