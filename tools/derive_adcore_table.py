"""Derive tests/data/adcore_templates.json from areaDetector's database templates.

    python -m tools.derive_adcore_table /work/.mirror/areaDetector+ADCore/repo \
        /work/.mirror/areaDetector+ADSimDetector/repo

reads, from the git directories of ADCore and ADSimDetector (their HEAD commit), the templates
each plugin loads (includes followed, later definitions of a record merged into earlier ones,
as dbLoadRecords does) and writes, per plugin prefix, every record's type, the fields the
template sets and the comment above it. Macros are expanded as dbLoadRecords expands them:
those a load gives (as ADCore's iocBoot/EXAMPLE_commonPlugins.cmd gives them), else the
template's ``$(NAME=default)``; other macros are kept as written. A plugin whose records live
under sub-prefixes (Over1:1: ... Over1:8:, ROIStat1:1: ... ROIStat1:8:) has them named
``1:Use`` and so on under its own prefix.

``plugins`` holds the plugins the IOC serves (``tests/test_ad_contract.py`` compares them with
the IOC); ``pending_plugins`` any whose classes are still to come, in the same format: a
prefix moves from PENDING to PLUGINS when the IOC serves it. The JSON is our data; the templates are not copied into the repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

Load = tuple[str, str, dict]  # (repository, template, macros of the load)


def _db(name: str, **macros: str) -> Load:
    return ("ADCore", f"ADApp/Db/{name}", macros)


def _overlay(n: int, name: str, roi: str | None) -> Load:
    """NDOverlayN as EXAMPLE_commonPlugins.cmd loads overlay ``n`` (1..8) of Over1:."""
    links = {f"{axis}{what}": f"$(P){roi}:{rec}{axis.upper()}_RBV" if roi else "junk"
             for axis in "xy" for what, rec in (("POS", "Min"), ("SIZE", "Size"))}
    return _db("NDOverlayN.template", R=f"Over1:{n}:", NAME=name, SHAPE="1", O="Over1:", ADDR=str(n - 1),
               XPOS=links["xPOS"], YPOS=links["yPOS"], XSIZE=links["xSIZE"], YSIZE=links["ySIZE"])


PLUGINS: dict[str, list[Load]] = {  # prefix -> the templates loaded for it
    "cam1:": [("ADSimDetector", "simDetectorApp/Db/simDetector.template", {})],
    "TIFF1:": [_db("NDFileTIFF.template")],
    "image1:": [_db("NDStdArrays.template")],
    "Stats1:": [_db("NDStats.template")],
    "Stats1:TS:": [_db("NDTimeSeries.template", NDARRAY_PORT="STATS1", NDARRAY_ADDR="1")],
    **{f"ROI{n}:": [_db("NDROI.template")] for n in range(1, 5)},
    "Proc1:": [_db("NDProcess.template")],
    "Trans1:": [_db("NDTransform.template")],
    "Over1:": [_db("NDOverlay.template")] + [
        _overlay(n, name, roi) for n, (name, roi) in enumerate(
            [("ROI1", "ROI1"), ("ROI2", "ROI2"), ("ROI3", "ROI3"), ("ROI4", "ROI4"),
             ("Cursor1", None), ("Cursor2", None), ("Box1", None), ("Box2", None)], start=1)],
    "CC1:": [_db("NDColorConvert.template")],
    "CB1:": [_db("NDCircularBuff.template")],
    "ROIStat1:": [_db("NDROIStat.template")] + [
        _db("NDROIStatN.template", R=f"ROIStat1:{n}:", ADDR=str(n - 1)) for n in range(1, 9)],
}
PENDING: dict[str, list[Load]] = {}  # plugins whose classes are still to come (none now)
OUT = Path(__file__).parent.parent / "tests" / "data" / "adcore_templates.json"

_RECORD = re.compile(r'record\(\s*(\w+)\s*,\s*"([^"]*)"\s*\)\s*\{(.*?)\n\s*\}', re.S)
_FIELD = re.compile(r'field\(\s*(\w+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)


def _show(git_dir: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(git_dir), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _commit(git_dir: Path) -> str:
    return subprocess.run(["git", "-C", str(git_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _comment_before(text: str, start: int) -> str:
    """The last comment line above a record, without '#' decoration (or '')."""
    for line in reversed(text[:start].rstrip().splitlines()[-8:]):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("#"):
            return ""
        words = line.strip("# /").strip()
        if words and not set(words) <= set("#=-/"):
            return words
    return ""


def expand(text: str, macros: dict[str, str]) -> str:
    """``$(NAME)``/``$(NAME=default)`` references (nested ones too) expanded as macLib does:
    a given macro's value, else the default (its quotes removed), else kept as written."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(text) and depth:
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
            inner = text[i + 2:j - 1]
            name, eq, default = inner.partition("=")
            if name in macros:
                out.append(macros[name])
            elif eq:
                out.append(expand(default.replace('"', ""), macros))
            else:
                out.append(text[i:j])
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse(repos: dict[str, Path], repo: str, path: str, records: dict, used: set, macros: dict,
          prefix: str) -> None:
    """Add the records of one template (and of what it includes, first) to ``records``."""
    text = expand(_show(repos[repo], path), macros)
    used.add(f"{repo}/{path}")
    pos = 0
    for match in list(_INCLUDE.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        _records(text, pos, end, records, prefix)
        if match:
            name = match.group(1)
            where = ("ADCore", f"ADApp/Db/{name}") if repo == "ADCore" or name != "simDetector.template" \
                else (repo, f"simDetectorApp/Db/{name}")
            parse(repos, *where, records, used, macros, prefix)
            pos = match.end()


def _records(text: str, start: int, end: int, records: dict, prefix: str) -> None:
    for match in _RECORD.finditer(text, start, end):
        rtype, name, body = match.groups()
        name = name.replace("$(P)$(R)", "")
        if name.startswith("$(P)" + prefix):  # a load with its own R, under the plugin's prefix
            name = name[len("$(P)" + prefix):]
        body = re.sub(r"#.*", "", body)
        fields = dict(_FIELD.findall(body))
        entry = records.setdefault(name, {"type": rtype, "fields": {}, "comment": ""})
        entry["type"] = rtype
        entry["fields"].update(fields)
        entry["comment"] = _comment_before(text, match.start()) or entry["comment"]


def main(argv: list[str]) -> None:
    repos = {"ADCore": Path(argv[0]), "ADSimDetector": Path(argv[1])}
    table: dict = {"sources": {name: _commit(path) for name, path in repos.items()}}
    used: set = set()
    for key, plugins in (("plugins", PLUGINS), ("pending_plugins", PENDING)):
        table[key] = {}
        for prefix, loads in plugins.items():
            records: dict = {}
            for repo, path, macros in loads:
                parse(repos, repo, path, records, used, macros, prefix)
            table[key][prefix] = dict(sorted(records.items()))
    table["templates"] = sorted(used)
    OUT.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    for key in ("plugins", "pending_plugins"):
        print(f"{OUT} {key}: " + ", ".join(f"{p} {len(r)} records" for p, r in table[key].items()))


if __name__ == "__main__":
    main(sys.argv[1:])
