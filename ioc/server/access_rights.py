"""Access security on our CA server: each client's rights per channel from the ACF in force
(:mod:`.access_rules`, read by :mod:`.access_security`), sent and enforced as rsrv does.

:class:`AccessControl` is the IOC's side (``asInit``/``asComputeAsg``): the configuration in
force, the rights of one client on one PV (the PV's record names its group, ``asg``; the
field its level), the INP PVs watched, a new file loaded. :class:`RightsChecks` is the
circuit's side, a mixin of :class:`ioc.server.circuit.Circuit`. A server made without an
``AccessControl`` (``Context(pvdb)``) behaves as caproto's: rights from ``check_access``.

What rsrv does (``modules/database/src/ioc/rsrv/camessage.c``) and where it happens here:

* channel creation (``claim_ciu_action`` -> ``asAddClient``; ``claim_ciu_reply`` sends
  CA_PROTO_ACCESS_RIGHTS before CA_PROTO_CREATE_CHAN): caproto builds its two replies and
  :meth:`RightsChecks._process_command` puts the ACF's rights in the ACCESS_RIGHTS one
  (caproto's ``ChannelData.check_access(host, user)`` has no client address, nor ASG, nor
  field level). The rights are the ACF's, less what the PV itself refuses (a read-only PV:
  rsrv's SPC_NOMOD).
* a change of rights (an INP's value, a new file: ``asComputeAsg`` -> ``casAccessRightsCB``):
  a new ACCESS_RIGHTS on every open channel whose rights changed, queued in order with the
  monitor updates (caproto's server state machine allows it on a connected channel; libca,
  pyepics, ophyd and caproto's client update their channel's rights on it).
* a put without WRITE (``write_action``: CA_PROTO_ERROR with ECA_NOWTACCESS;
  ``write_notify_action``: a WRITE_NOTIFY reply whose status is ECA_NOWTACCESS): the same,
  and one log line naming the PV, the user, the client's address, its host name and the
  group; nothing reaches the PV.
* a get or a subscription without READ: refused with ECA_NORDACCESS in a CA_PROTO_ERROR
  (rsrv answers a get with a zeroed reply carrying that status, and keeps a subscription
  silent until read access returns; the shipped file lets everyone read).
* host and user names (``host_name_action``/``client_name_action``): refused once the client
  has a channel, as rsrv does; with ``check_client_ip`` (the default) the host matched is the
  client's IP address, never the name it sends.
* TRAPWRITE (``asTrapWriteWithData``; caPutLog listens): a put a TRAPWRITE rule allowed is
  logged with its user, host, PV and value.
* INP PVs (``asCa``: CA monitors of DBR_STS_DOUBLE): PVs of this IOC are watched through
  their ChannelData subscriptions; INVALID severity or a non-numeric value makes the input
  bad. A PV this IOC does not serve stays bad (rsrv would reach it over CA).
* a new file (``asInit``, ``asSubProcess``): :meth:`AccessControl.reload` (SIGHUP, and
  ``sim:ACFReload``); a file with an error is refused, the rules in force stay, connections stay.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import caproto as ca
from caproto import AccessRights, AlarmSeverity, ChannelFilter, ChannelType
from caproto.server.common import SubscriptionSpec

from .access_rules import AccessConfig, ACFError, Rights
from .access_security import DEFAULT_ACF, load
from .wire import Entry

log = logging.getLogger("beamline.access")

# Fields of the motor record the operators use (motorRecord.dbd: asl(ASL0)); every other field is ASL1.
MOTOR_ASL0 = frozenset("OFF FOFF FOF VOF SET SSET SUSE BDST SPMG STOP JOGF JOGR TWF TWR TWV VAL DVAL RVAL RLV CNEN "
                       "STUP".split())
_WATCH = SubscriptionSpec(db_entry=None, data_type_name="STS_DOUBLE",
                          mask=ca.SubscriptionType.DBE_VALUE | ca.SubscriptionType.DBE_ALARM,
                          channel_filter=ChannelFilter(ts=False, dbnd=None, sync=None, arr=None))


def field_level(pvname: str, record_type: str) -> int:
    """A field's ASL as base's record definitions give it: VAL (a record without a field) 0;
    the motor record's operator fields 0; everything else 1."""
    _, _, field, _ = ca.parse_record_field(pvname)
    field = (field or "VAL").upper()
    if field == "VAL" or (record_type == "motor" and field in MOTOR_ASL0):
        return 0
    return 1


def ioc_user() -> str:
    """The account that runs the IOC (what libca sends as a client's user name)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return getpass.getuser()


@dataclass
class ChannelRights:
    """One open channel's rights: its PV, the group the ACF puts it in (DEFAULT for a group
    it does not define), its field level, what the ACF grants (``rights``) and what the client
    is told (``flags``: less what the PV itself refuses, a read-only PV's put being refused
    by the PV, with its own message)."""

    pvname: str
    asg: str
    asl: int
    rights: Rights
    flags: AccessRights


class RightsChecks:
    """The access-security half of :class:`ioc.server.circuit.Circuit` (a mixin of it: it uses
    the circuit's ``context``, ``circuit`` and ``_append``). Does nothing when the context has
    no :class:`AccessControl`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel_rights: dict[int, ChannelRights] = {}  # by cid

    @property
    def client_host(self) -> str:
        """The host the ACF matches: the client's IP address, or the name it sent."""
        if self.context.access.config.check_client_ip:
            return self.circuit.address[0]
        return self.client_hostname or ""

    def describe_client(self) -> str:
        return f"{self.client_username or '?'}@{self.circuit.address[0]} (host name {self.client_hostname or '?'})"

    async def _process_command(self, command):
        access = self.context.access
        if access is None:
            return await super()._process_command(command)
        if isinstance(command, (ca.HostNameRequest, ca.ClientNameRequest)) and self.channel_rights:
            what = "host" if isinstance(command, ca.HostNameRequest) else "user"
            return [ca.ErrorResponse(command, 0, status=ca.CAStatus.ECA_INTERNAL,
                                     error_message=f"attempts to use protocol to set {what} name after creating "
                                                   "first channel ignored by server")]
        if isinstance(command, ca.CreateChanRequest):
            response = await super()._process_command(command)
            if not any(isinstance(reply, ca.CreateChanResponse) for reply in response):
                return response
            entry = access.rights_of(command.name, self.client_username or "", self.client_host)
            self.channel_rights[command.cid] = entry
            return [ca.AccessRightsResponse(cid=command.cid, access_rights=entry.flags)
                    if isinstance(reply, ca.AccessRightsResponse) else reply for reply in response]
        if isinstance(command, (ca.ReadNotifyRequest, ca.ReadRequest, ca.EventAddRequest)):
            chan = self.circuit.channels_sid.get(command.sid)
            if chan is not None and not self.may_read(chan):
                return [ca.ErrorResponse(command, chan.cid, status=ca.CAStatus.ECA_NORDACCESS,
                                         error_message=chan.name)]
        elif isinstance(command, ca.ClearChannelRequest):
            chan = self.circuit.channels_sid.get(command.sid)
            if chan is not None:
                self.channel_rights.pop(chan.cid, None)
        return await super()._process_command(command)

    def may_read(self, chan) -> bool:
        """Whether this client may read ``chan`` (always, without access security)."""
        if self.context.access is None:
            return True
        entry = self.channel_rights.get(chan.cid)
        return entry is not None and entry.rights.read

    def write_refused(self, command, chan, db_entry) -> list | None:
        """The reply refusing a put this client has no right to (None: go ahead)."""
        if self.context.access is None:
            return None
        entry = self.channel_rights.get(chan.cid)
        if entry is not None and entry.rights.write:
            if entry.rights.trapwrite and AccessRights.WRITE in entry.flags:
                log.info("TRAPWRITE %s put %s = %s", self.describe_client(), chan.name, _shown(command.data))
            return None
        log.warning("Put to %s refused: no write access for %s (ASG %s)", chan.name, self.describe_client(),
                    entry.asg if entry is not None else "?")
        if isinstance(command, ca.WriteNotifyRequest):
            return [chan.write(ioid=command.ioid, status=ca.CAStatus.ECA_NOWTACCESS, data_count=db_entry.length)]
        return [ca.ErrorResponse(command, chan.cid, status=ca.CAStatus.ECA_NOWTACCESS, error_message=chan.name)]

    def refresh_rights(self, groups: set[str] | None = None) -> int:
        """Recompute the rights of this circuit's channels (those in ``groups``, or all); queue
        ACCESS_RIGHTS for each that changed, in order with the updates queued. How many changed."""
        access = self.context.access
        if access is None or not self.connected:
            return 0
        changed = 0
        for cid, entry in list(self.channel_rights.items()):
            if groups is not None and entry.asg not in groups:
                continue
            new = access.rights_of(entry.pvname, self.client_username or "", self.client_host)
            self.channel_rights[cid] = new
            if new.flags != entry.flags:
                self._append(Entry(0, None, None, None,
                                   command=ca.AccessRightsResponse(cid=cid, access_rights=new.flags)))
                changed += 1
        return changed


class InputWatch:
    """Stands where a subscription queue would: receives the updates of the INP PVs it was
    subscribed to and hands their values to the access control (``asCa``'s eventCallback)."""

    def __init__(self, access: AccessControl) -> None:
        self.access = access

    async def put(self, update) -> None:
        self.put_nowait(update)

    def put_nowait(self, update) -> None:
        sub_specs, metadata, values, _flags, _sub = update
        value: float | None
        try:
            value = None if metadata.severity == AlarmSeverity.INVALID_ALARM else float(values[0])
        except (TypeError, ValueError, IndexError, AttributeError):
            value = None
        for spec in sub_specs:
            self.access.input_changed(spec.db_entry, value)


class AccessControl:
    """The access-security configuration an IOC enforces, and what follows from it.

    ``config``: the ACF in force (replaced whole by :meth:`reload`, never changed in place);
    ``acf`` and ``substitutions``: where and with which macros :meth:`reload` reads it again.
    ``listeners`` are called with ``(loaded, message)`` after each reload (``sim:ACFMessage``).
    The server calls :meth:`start` with its context before serving."""

    def __init__(self, config: AccessConfig, *, acf: Path, substitutions: dict[str, str]) -> None:
        self.config = config
        self.acf = acf
        self.substitutions = substitutions
        self.context = None
        self.inputs: dict[str, float | None] = {}  # INP PV -> value (None: bad)
        self.listeners: list[Callable[[bool, str], object]] = []
        self.message = ""  # the last reload's outcome
        self._watched: dict[int, str] = {}  # id(db_entry) -> the INP PV name it answers for
        self._watch = InputWatch(self)

    @classmethod
    def for_ioc(cls, acf: Path | None, prefix: str, user: str | None = None) -> AccessControl:
        """The ACF an IOC enforces (``acf``, or the shipped one) with its macros: ``IOC_USER``
        (``user``, or the account running the IOC) and ``P`` (the prefix). ACFError if refused."""
        acf = Path(acf) if acf is not None else DEFAULT_ACF
        user = user or ioc_user()
        if not user:
            raise ACFError("the IOC's user name is empty: IOC_USER would match clients that send no name", 0,
                           str(acf))
        substitutions = {"IOC_USER": user, "P": prefix}
        return cls(load(acf, substitutions=substitutions), acf=acf, substitutions=substitutions)

    # -- rights --

    def rights_of(self, pvname: str, user: str, host: str) -> ChannelRights:
        """What ``user`` at ``host`` may do on ``pvname`` (a PV of the server's database)."""
        db_entry = self.context[pvname]
        record_entry = self.context.pvdb.get(ca.parse_record_field(pvname).record, db_entry)
        group = self.config.group(getattr(record_entry, "asg", "") or None)
        asl = field_level(pvname, getattr(record_entry, "reported_record_type", ""))
        rights = self.config.rights(group.name, user, host, asl, group.values_from(self.inputs))
        flags = AccessRights.NO_ACCESS
        if rights.read:
            flags |= AccessRights.READ
        if rights.write:
            flags |= AccessRights.WRITE
        flags &= db_entry.check_access(host, user)  # a read-only PV stays read-only (rsrv: SPC_NOMOD)
        return ChannelRights(pvname, group.name, asl, rights, flags)

    def refresh(self, groups: set[str] | None = None) -> int:
        """Recompute every open channel's rights (of ``groups``, or all); how many changed."""
        if self.context is None:
            return 0
        return sum(circuit.refresh_rights(groups) for circuit in tuple(self.context.circuits)
                   if isinstance(circuit, RightsChecks))

    # -- INP PVs --

    async def start(self, context) -> None:
        """Serve with ``context``: its circuits ask :meth:`rights_of`; the INP PVs are watched."""
        self.context = context
        for warning in self.config.warnings:
            log.warning("Access security: %s", warning)
        await self.watch_inputs()

    async def watch_inputs(self) -> None:
        """Subscribe to the INP PVs of the configuration in force (ours; others stay bad)."""
        pvdb = self.context.pvdb
        for entry_id, pv in list(self._watched.items()):
            db_entry = pvdb.get(pv)
            if db_entry is not None:
                await db_entry.unsubscribe(self._watch, _WATCH._replace(db_entry=db_entry))
            del self._watched[entry_id]
        self.inputs = {pv: None for pv in self.config.input_pvs()}
        for pv in sorted(self.inputs):
            db_entry = pvdb.get(pv)
            if db_entry is None or ca.native_type(db_entry.data_type) == ChannelType.STRING:
                log.warning("INP %s: not a numeric PV of this IOC; CALC rules reading it are false", pv)
                continue
            self._watched[id(db_entry)] = pv
            await db_entry.subscribe(self._watch, _WATCH._replace(db_entry=db_entry), None)

    def input_changed(self, db_entry, value: float | None) -> None:
        pv = self._watched.get(id(db_entry))
        if pv is None or self.inputs.get(pv, "unset") == value:
            return
        self.inputs[pv] = value
        asyncio.get_running_loop().call_soon(self.refresh, set(self.config.groups_reading(pv)))

    # -- a new file --

    async def reload(self) -> bool:
        """Read the ACF again (``asInit``); keep the rules in force if it has an error. True if loaded."""
        try:
            config = load(self.acf, substitutions=self.substitutions, check_client_ip=self.config.check_client_ip)
        except ACFError as exc:
            message = f"not reloaded, the rules in force stay: {exc}"
            log.error("Access security file %s", message)
            self._tell(False, message)
            return False
        for warning in config.warnings:
            log.warning("Access security: %s", warning)
        self.config = config
        changed = 0
        if self.context is not None:
            await self.watch_inputs()
            changed = self.refresh()
        message = f"reloaded from {self.acf}: {changed} channel(s) changed rights"
        log.warning("Access security %s", message)
        self._tell(True, message)
        return True

    def _tell(self, loaded: bool, message: str) -> None:
        self.message = message
        for listener in self.listeners:
            listener(loaded, message)


def _shown(data) -> str:
    """A put's value for a log line: one value, or the first few (strings decoded)."""
    try:
        values = list(data)
    except TypeError:
        values = [data]
    values = [v.item() if hasattr(v, "item") else v for v in values]  # numpy scalars as Python's
    values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values[:8]]
    return str(values[0]) if len(values) == 1 else str(values)


__all__ = ["MOTOR_ASL0", "AccessControl", "ChannelRights", "InputWatch", "RightsChecks", "field_level", "ioc_user"]
