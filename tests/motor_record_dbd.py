"""motorRecord.dbd (epics-modules/motor, commit b43050de4b8cba19fac489620be44fa6137a7103) as a
table: each field's DBF type, menu and ``initial()`` value, and the menus' choices. The source
of truth that tests/test_motor_record.py checks the IOC's motor records against.

Made by parsing that file (``python -m tests.motor_record_dbd path/to/motorRecord.dbd`` prints
the table again); the three base menus it includes (menuYesNo, menuOmsl, menuAlarmSevr) are
epics-base's.
"""

from __future__ import annotations

import pprint
import re
import sys

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

MENUS = {**BASE_MENUS,
 'motorACCU': ('Use ACCL', 'Use ACCS'),
 'motorDIR': ('Pos', 'Neg'),
 'motorFOFF': ('Variable', 'Frozen'),
 'motorMODE': ('Position', 'Velocity'),
 'motorRMOD': ('Default', 'Arithmetic', 'Geometric', 'In-Position'),
 'motorRSTM': ('Never', 'Always', 'NearZero', 'Conditional'),
 'motorSET': ('Use', 'Set'),
 'motorSPMG': ('Stop', 'Pause', 'Move', 'Go'),
 'motorSTUP': ('OFF', 'ON', 'BUSY'),
 'motorTORQ': ('Disable', 'Enable'),
 'motorUEIP': ('No', 'Yes')}

FIELDS = {
    'VERS': ('DBF_FLOAT', None, '1'),
    'OFF': ('DBF_DOUBLE', None, None),
    'FOFF': ('DBF_MENU', 'motorFOFF', None),
    'FOF': ('DBF_SHORT', None, None),
    'VOF': ('DBF_SHORT', None, None),
    'DIR': ('DBF_MENU', 'motorDIR', None),
    'SET': ('DBF_MENU', 'motorSET', None),
    'SSET': ('DBF_SHORT', None, None),
    'SUSE': ('DBF_SHORT', None, None),
    'VELO': ('DBF_DOUBLE', None, None),
    'VBAS': ('DBF_DOUBLE', None, None),
    'VMAX': ('DBF_DOUBLE', None, None),
    'S': ('DBF_DOUBLE', None, None),
    'SBAS': ('DBF_DOUBLE', None, None),
    'SMAX': ('DBF_DOUBLE', None, None),
    'ACCL': ('DBF_DOUBLE', None, '0.2'),
    'ACCS': ('DBF_DOUBLE', None, None),
    'ACCU': ('DBF_MENU', 'motorACCU', '0'),
    'BDST': ('DBF_DOUBLE', None, None),
    'BVEL': ('DBF_DOUBLE', None, None),
    'SBAK': ('DBF_DOUBLE', None, None),
    'BACC': ('DBF_DOUBLE', None, '0.5'),
    'FRAC': ('DBF_FLOAT', None, '1'),
    'OUT': ('DBF_OUTLINK', None, None),
    'CARD': ('DBF_SHORT', None, None),
    'RDBL': ('DBF_INLINK', None, None),
    'DOL': ('DBF_INLINK', None, None),
    'OMSL': ('DBF_MENU', 'menuOmsl', None),
    'RLNK': ('DBF_OUTLINK', None, None),
    'SREV': ('DBF_LONG', None, '200'),
    'UREV': ('DBF_DOUBLE', None, None),
    'MRES': ('DBF_DOUBLE', None, None),
    'ERES': ('DBF_DOUBLE', None, None),
    'RRES': ('DBF_DOUBLE', None, None),
    'UEIP': ('DBF_MENU', 'motorUEIP', None),
    'URIP': ('DBF_MENU', 'motorUEIP', None),
    'PREC': ('DBF_SHORT', None, None),
    'EGU': ('DBF_STRING', None, None),
    'RHLM': ('DBF_DOUBLE', None, None),
    'RLLM': ('DBF_DOUBLE', None, None),
    'HLM': ('DBF_DOUBLE', None, None),
    'LLM': ('DBF_DOUBLE', None, None),
    'DHLM': ('DBF_DOUBLE', None, None),
    'DLLM': ('DBF_DOUBLE', None, None),
    'HOPR': ('DBF_DOUBLE', None, None),
    'LOPR': ('DBF_DOUBLE', None, None),
    'HLS': ('DBF_SHORT', None, None),
    'LLS': ('DBF_SHORT', None, None),
    'RHLS': ('DBF_SHORT', None, None),
    'RLLS': ('DBF_SHORT', None, None),
    'HIHI': ('DBF_DOUBLE', None, None),
    'LOLO': ('DBF_DOUBLE', None, None),
    'HIGH': ('DBF_DOUBLE', None, None),
    'LOW': ('DBF_DOUBLE', None, None),
    'HHSV': ('DBF_MENU', 'menuAlarmSevr', None),
    'LLSV': ('DBF_MENU', 'menuAlarmSevr', None),
    'HSV': ('DBF_MENU', 'menuAlarmSevr', None),
    'LSV': ('DBF_MENU', 'menuAlarmSevr', None),
    'HLSV': ('DBF_MENU', 'menuAlarmSevr', None),
    'RDBD': ('DBF_DOUBLE', None, None),
    'SPDB': ('DBF_DOUBLE', None, None),
    'RCNT': ('DBF_SHORT', None, None),
    'RTRY': ('DBF_SHORT', None, '10'),
    'MISS': ('DBF_SHORT', None, None),
    'SPMG': ('DBF_MENU', 'motorSPMG', '3'),
    'LSPG': ('DBF_MENU', 'motorSPMG', '3'),
    'STOP': ('DBF_SHORT', None, None),
    'HOMF': ('DBF_SHORT', None, None),
    'HOMR': ('DBF_SHORT', None, None),
    'JOGF': ('DBF_SHORT', None, None),
    'JOGR': ('DBF_SHORT', None, None),
    'TWF': ('DBF_SHORT', None, None),
    'TWR': ('DBF_SHORT', None, None),
    'TWV': ('DBF_DOUBLE', None, None),
    'VAL': ('DBF_DOUBLE', None, None),
    'LVAL': ('DBF_DOUBLE', None, None),
    'DVAL': ('DBF_DOUBLE', None, None),
    'LDVL': ('DBF_DOUBLE', None, None),
    'RVAL': ('DBF_LONG', None, None),
    'LRVL': ('DBF_LONG', None, None),
    'RLV': ('DBF_DOUBLE', None, None),
    'LRLV': ('DBF_DOUBLE', None, None),
    'RBV': ('DBF_DOUBLE', None, None),
    'DRBV': ('DBF_DOUBLE', None, None),
    'DIFF': ('DBF_DOUBLE', None, None),
    'RDIF': ('DBF_LONG', None, None),
    'CDIR': ('DBF_SHORT', None, None),
    'RRBV': ('DBF_LONG', None, None),
    'RMP': ('DBF_LONG', None, None),
    'REP': ('DBF_LONG', None, None),
    'RVEL': ('DBF_LONG', None, None),
    'DMOV': ('DBF_SHORT', None, '1'),
    'MOVN': ('DBF_SHORT', None, None),
    'MSTA': ('DBF_ULONG', None, None),
    'LVIO': ('DBF_SHORT', None, '1'),
    'TDIR': ('DBF_SHORT', None, None),
    'ATHM': ('DBF_SHORT', None, None),
    'PP': ('DBF_SHORT', None, '0'),
    'MIP': ('DBF_USHORT', None, None),
    'MMAP': ('DBF_ULONG', None, None),
    'NMAP': ('DBF_ULONG', None, None),
    'DLY': ('DBF_DOUBLE', None, None),
    'CBAK': ('DBF_NOACCESS', None, None),
    'PCOF': ('DBF_DOUBLE', None, '0'),
    'ICOF': ('DBF_DOUBLE', None, '0'),
    'DCOF': ('DBF_DOUBLE', None, '0'),
    'CNEN': ('DBF_MENU', 'motorTORQ', None),
    'INIT': ('DBF_STRING', None, None),
    'PREM': ('DBF_STRING', None, None),
    'POST': ('DBF_STRING', None, None),
    'STOO': ('DBF_OUTLINK', None, None),
    'DINP': ('DBF_INLINK', None, None),
    'RINP': ('DBF_INLINK', None, None),
    'JVEL': ('DBF_DOUBLE', None, None),
    'JAR': ('DBF_DOUBLE', None, None),
    'LOCK': ('DBF_MENU', 'menuYesNo', 'NO'),
    'NTM': ('DBF_MENU', 'menuYesNo', 'YES'),
    'NTMF': ('DBF_USHORT', None, '2'),
    'HVEL': ('DBF_DOUBLE', None, None),
    'STUP': ('DBF_MENU', 'motorSTUP', 'OFF'),
    'RMOD': ('DBF_MENU', 'motorRMOD', 'Default'),
    'ADEL': ('DBF_DOUBLE', None, None),
    'MDEL': ('DBF_DOUBLE', None, None),
    'ALST': ('DBF_DOUBLE', None, None),
    'MLST': ('DBF_DOUBLE', None, None),
    'SYNC': ('DBF_SHORT', None, None),
    'IGSET': ('DBF_SHORT', None, None),
    'RSTM': ('DBF_MENU', 'motorRSTM', 'NearZero'),
}


def parse(text: str) -> tuple[dict, dict]:
    """(menus, fields) of a motorRecord.dbd text, as the tables above."""
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


if __name__ == "__main__":
    menus, fields = parse(open(sys.argv[1]).read())
    print("MENUS = " + pprint.pformat(menus, width=110))
    print("FIELDS = {\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in fields.items()) + "}")
