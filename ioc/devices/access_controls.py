"""Access security for the beamline IOC: the ACF it enforces, and ``sim:ACF*`` to reload it.

:func:`enforce_access_security` is what ``beamline-ioc`` calls: it reads the file
(``--acf``, or the shipped ``ioc/server/default.acf``) with ``$(IOC_USER)`` (the account
running the IOC) and ``$(P)`` (the prefix), refuses to start on a file with an error (its
line and the reason), adds the PVs below to the PV database and returns the
:class:`~ioc.server.access_rights.AccessControl` the server enforces. Each record names its
group (``asg`` on its group's class: ``Motor`` and the areaDetector classes HARDWARE,
``SimControls`` SIMULATION, the rest DEFAULT).

PVs (staff only write them, as the rest of ``sim:``), as EPICS's asSub record and ``asInit``,
under ``sim:`` (a configured IOC's: beside its sim controls, or at its ``access_security``
prefix, docs/configuration.md):

* ``sim:ACFReload``: put 1 to read the file again; the rules change for every open channel
  at once, without reconnecting. A file with an error is refused, the put fails naming the
  line and the reason (WRITE/MAJOR alarm until the next good reload), the rules in force stay.
* ``sim:ACFFile``: the file in force (read-only: the file is given at start).
* ``sim:ACFMessage``: the last load's outcome (also after SIGHUP, which reloads too).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from caproto import AlarmSeverity, AlarmStatus

from ..records import Macro, PutRefused, RecordGroup, utf8_fit
from ..records.declare import bo, waveform
from ..server.access_rights import AccessControl
from ..server.access_rules import ACFError


class AccessSecurityControls(RecordGroup):
    """``sim:ACFFile``, ``sim:ACFReload``, ``sim:ACFMessage`` of ``access`` (macro ``ACF``: its file)."""

    asg = "SIMULATION"
    acf_file = waveform("ACFFile", Macro("ACF", str), nelm=1024, input=True,
                        doc="The access security file in force (beamline-ioc --acf)")
    acf_reload = bo("ACFReload", "Done", ("Done", "Reload"),
                    doc="Put 1: read the access security file again (as asInit); refused with the line and "
                        "the reason if it has an error, the rules in force staying")
    acf_message = waveform("ACFMessage", "", nelm=512, input=True,
                           doc="The last load of the access security file: reloaded, or why not (file:line: reason)")

    def __init__(self, prefix: str, *, access: AccessControl) -> None:
        super().__init__(prefix, macros={"ACF": str(access.acf)})
        self.access = access
        self._tasks: set[asyncio.Task] = set()
        access.listeners.append(self._loaded)

    def _loaded(self, loaded: bool, message: str) -> None:
        alarm = ({"status": AlarmStatus.NO_ALARM, "severity": AlarmSeverity.NO_ALARM} if loaded
                 else {"status": AlarmStatus.STATE, "severity": AlarmSeverity.MAJOR_ALARM})
        task = asyncio.get_running_loop().create_task(self.acf_message.write(utf8_fit(message, 512), **alarm))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @acf_reload.putter
    async def acf_reload(self, instance, value):
        if value in ("Reload", 1) and not await self.access.reload():
            raise PutRefused(f"{instance.pvname}: {self.access.message}")
        return "Done"


def enforce_access_security(pvdb: dict, acf: Path | None, prefix: str, controls: str | None = None) -> AccessControl:
    """The access security ``beamline-ioc`` serves ``pvdb`` with (see the module docstring): ``$(P)``
    is ``prefix``; the controls are served at ``controls`` (default ``prefix + "sim:"``; a
    configured IOC's: its ``access_security`` prefix, beside its sim controls). SystemExit, naming
    the file, the line and the reason, if the file is refused."""
    try:
        access = AccessControl.for_ioc(acf, prefix)
    except ACFError as exc:
        raise SystemExit(f"beamline-ioc: not starting: access security file refused: {exc}") from None
    group = AccessSecurityControls(prefix + "sim:" if controls is None else controls, access=access)
    clash = sorted(set(group.pvdb) & set(pvdb))
    if clash:
        raise ValueError(f"access security PVs clash with the IOC's: {', '.join(clash)}")
    pvdb.update(group.pvdb)
    log = logging.getLogger("beamline.access")
    if not log.handlers:  # refusals, TRAPWRITE and reloads: the IOC's put log, also with -q
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s beamline-ioc access: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return access


__all__ = ["AccessSecurityControls", "enforce_access_security"]
