"""Derive tests/data/motor_record_dbd.json from motorRecord.dbd (epics-modules/motor).

    python -m tools.motor_record_dbd /path/to/motorRecord.dbd COMMIT

writes each field's DBF type, menu and ``initial()`` value, the menus' choices, and how an
EPICS IOC serves each DBF type over CA: the source of truth tests/test_motor_record.py checks
the IOC's motor records against. The three base menus the dbd includes (menuYesNo, menuOmsl,
menuAlarmSevr) are epics-base's. The JSON is our data; the dbd is not copied here.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).parent.parent / "tests" / "data" / "motor_record_dbd.json"

# How an EPICS IOC serves each DBF type over CA (epics-base db_convert.h dbDBRnewToDBRold;
# link fields are read as strings).
CA_TYPE = {
    "DBF_STRING": "STRING", "DBF_CHAR": "CHAR", "DBF_UCHAR": "CHAR", "DBF_SHORT": "INT",
    "DBF_USHORT": "LONG", "DBF_LONG": "LONG", "DBF_ULONG": "DOUBLE", "DBF_FLOAT": "FLOAT",
    "DBF_DOUBLE": "DOUBLE", "DBF_MENU": "ENUM", "DBF_DEVICE": "ENUM",
    "DBF_INLINK": "STRING", "DBF_OUTLINK": "STRING", "DBF_FWDLINK": "STRING",
}

BASE_MENUS = {
    "menuYesNo": ("NO", "YES"),
    "menuOmsl": ("supervisory", "closed_loop"),
    "menuAlarmSevr": ("NO_ALARM", "MINOR", "MAJOR", "INVALID"),
}


def parse(text: str) -> tuple[dict, dict]:
    """(menus, fields) of a motorRecord.dbd text: {menu: choices}, {field: (DBF type, menu, initial)}."""
    menus = {m.group(1): tuple(re.findall(r'choice\(\s*\w+\s*,\s*"([^"]*)"\s*\)', m.group(2)))
             for m in re.finditer(r"menu\((\w+)\)\s*\{(.*?)\n\}", text, re.S)}
    fields = {}
    body = text[text.index("recordtype(motor)"):]
    for m in re.finditer(r"field\((\w+)\s*,\s*(DBF_\w+)\)\s*\{(.*?)\}", body, re.S):
        name, dbf, inner = m.groups()
        menu = re.search(r"menu\((\w+)\)", inner)
        initial = re.search(r'initial\("([^"]*)"\)', inner)
        fields[name] = (dbf, menu.group(1) if menu else None, initial.group(1) if initial else None)
    return menus, fields


def main(argv: list[str]) -> None:
    path, commit = argv
    menus, fields = parse(Path(path).read_text())
    data = {"source": f"epics-modules/motor motorRecord.dbd, commit {commit}; menuYesNo, menuOmsl, menuAlarmSevr "
                      "from epics-base",
            "ca_type": CA_TYPE, "menus": {**BASE_MENUS, **menus}, "fields": fields}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT}: {len(fields)} fields, {len(data['menus'])} menus")


if __name__ == "__main__":
    main(sys.argv[1:])
