"""Derive tests/data/adcore_templates.json from areaDetector's database templates.

    python tests/derive_adcore_table.py /work/.mirror/areaDetector+ADCore/repo \
        /work/.mirror/areaDetector+ADSimDetector/repo

reads, from the git directories of ADCore and ADSimDetector (their HEAD commit), the templates
each served plugin loads (includes followed, later definitions of a record merged into
earlier ones, as dbLoadRecords does) and writes, per plugin prefix, every record's type, the
fields the template sets (values with ``$(NAME=default)`` macros resolved to their default;
other macros kept as written) and the comment above it. The JSON is our data; the templates
are not copied into the repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

PLUGINS = {  # prefix -> (repository, top template)
    "cam1:": ("ADSimDetector", "simDetectorApp/Db/simDetector.template"),
    "TIFF1:": ("ADCore", "ADApp/Db/NDFileTIFF.template"),
    "image1:": ("ADCore", "ADApp/Db/NDStdArrays.template"),
    "Stats1:": ("ADCore", "ADApp/Db/NDStats.template"),
}
OUT = Path(__file__).parent / "data" / "adcore_templates.json"

_RECORD = re.compile(r'record\(\s*(\w+)\s*,\s*"([^"]*)"\s*\)\s*\{(.*?)\n\s*\}', re.S)
_FIELD = re.compile(r'field\(\s*(\w+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_INCLUDE = re.compile(r'^\s*include\s+"([^"]+)"', re.M)
_DEFAULT_MACRO = re.compile(r"\$\((\w+)=([^)]*)\)")


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
        words = line.strip("# ").strip()
        if words and not set(words) <= set("#=-"):
            return words
    return ""


def parse(repos: dict[str, Path], repo: str, path: str, records: dict, used: set) -> None:
    """Add the records of one template (and of what it includes, first) to ``records``."""
    text = _show(repos[repo], path)
    used.add(f"{repo}/{path}")
    pos = 0
    for match in list(_INCLUDE.finditer(text)) + [None]:
        end = match.start() if match else len(text)
        _records(text, pos, end, records)
        if match:
            name = match.group(1)
            where = ("ADCore", f"ADApp/Db/{name}") if repo == "ADCore" or name != "simDetector.template" \
                else (repo, f"simDetectorApp/Db/{name}")
            parse(repos, *where, records, used)
            pos = match.end()


def _records(text: str, start: int, end: int, records: dict) -> None:
    for match in _RECORD.finditer(text, start, end):
        rtype, name, body = match.groups()
        name = name.replace("$(P)$(R)", "")
        body = re.sub(r"#.*", "", body)
        fields = {f: _DEFAULT_MACRO.sub(lambda m: m.group(2), v) for f, v in _FIELD.findall(body)}
        entry = records.setdefault(name, {"type": rtype, "fields": {}, "comment": ""})
        entry["type"] = rtype
        entry["fields"].update(fields)
        entry["comment"] = _comment_before(text, match.start()) or entry["comment"]


def main(argv: list[str]) -> None:
    repos = {"ADCore": Path(argv[0]), "ADSimDetector": Path(argv[1])}
    table: dict = {"sources": {name: _commit(path) for name, path in repos.items()}, "plugins": {}}
    used: set = set()
    for prefix, (repo, path) in PLUGINS.items():
        records: dict = {}
        parse(repos, repo, path, records, used)
        table["plugins"][prefix] = dict(sorted(records.items()))
    table["templates"] = sorted(used)
    OUT.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: " + ", ".join(f"{p} {len(r)} records" for p, r in table["plugins"].items()))


if __name__ == "__main__":
    main(sys.argv[1:])
