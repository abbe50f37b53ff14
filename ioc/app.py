"""The ``beamline-ioc`` command line: a beamline's IOC from its configuration, served over CA.

Run ``beamline-ioc --help`` for the options. By default it serves on loopback only
(127.0.0.1) on the port ``EPICS_CAS_SERVER_PORT`` or ``EPICS_CA_SERVER_PORT`` names (5064 if neither;
on loopback a free one if another server has it: :mod:`.server.ports`).

``beamline-ioc`` serves the shipped ``beamline`` configuration under ``--prefix``
(``--mini-beamline`` adds the shipped ``mini_beamline`` under ``--mini-prefix``, on the same
simulation); ``--config FILE`` serves the IOCs a file declares (:mod:`beamline_shared.config`):
``--ioc NAME`` one of them in this process, otherwise each in a process of its own
(:mod:`ioc.processes`). The parts are made and wired by :class:`ioc.beamline.BeamlineIOC`.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import sys
from pathlib import Path

from caproto.server import template_arg_parser

from beamline_shared import config
from beamline_shared.launcher import start_repeater
from beamline_shared.paths import PrefixInUse, claim_connection_file, default_data_root, release_connection_file

from . import server
from .beamline import DEFAULT_PREFIX, BeamlineIOC, load, shipped
from .devices.sim_controls import RING_MODES
from .processes import serve_each
from .server import autosave
from .server.ports import PortTaken, choose_port
from .server.pvaccess import ImageServer, PvaUnavailable, server_config
from .sim.physics import ROW_TIME

SWITCH_INTERVAL = 0.0005  # s: sys.setswitchinterval (see startup)

DESCRIPTION = """\
A simulated beamline over EPICS Channel Access.

Without --config: the shipped configuration 'beamline' under --prefix (default BL:):
  mtr:dotx, mtr:doty   motor records (mm) moving the beam spot on the camera; mtr:dotx_able...
                       (motor.db), mtr:allstop... (motorUtil.db), mtr:dotx:scanParms (scanParms.db)
  ring:current         storage-ring current (mA), top-up
  dot:cam1:            areaDetector driver (AcquireTime is the exposure, s)
  dot:TIFF1:, dot:HDF1:, dot:image1:, dot:Stats1: (Stats1:TS:), dot:Pva1:   its plugins
  dot:ROI1:-ROI4:      NDPluginROI: regions, binned; ROIStat1: several regions' totals
  dot:Proc1:, Trans1:, Over1:, CC1:, CB1:   process, transform, overlay, colour, circular
                       buffer (the rest of the plugin chain, on DOT1, disabled at start)
  sim:                 simulation controls (TimeScale, Seed, RingMode, faults...) and the access
                       security file in force (ACFFile, ACFReload, ACFMessage; --acf)
  mini:...             caproto's mini_beamline example names (--mini-beamline)

With --config FILE: the IOCs the file declares (a shipped name such as mini_beamline,
ophyd_tests or dodal_adsim also works); python -m beamline_shared.config FILE lists their PVs.
Every IOC enforces EPICS access security: --acf FILE, else the IOC's access_security file in
the configuration, else the shipped ioc/server/default.acf; SIGHUP reloads it.
"""


def _shape(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--sensor-shape: expected ROWSxCOLS such as 480x640, not {text!r}") from None
    if not (8 <= rows <= 8192 and 8 <= cols <= 8192):
        raise SystemExit(f"--sensor-shape: rows and columns must be between 8 and 8192, not {text!r}")
    return rows, cols


def _loopback_defaults(interfaces: list[str]) -> None:
    """Keep beacons on loopback when serving only on loopback, unless the user configured them."""
    if all(i.startswith("127.") for i in interfaces):
        os.environ.setdefault("EPICS_CAS_AUTO_BEACON_ADDR_LIST", "NO")
        os.environ.setdefault("EPICS_CAS_BEACON_ADDR_LIST", "127.255.255.255")


def _write_connection_file(key: str, data_root: Path, interfaces: list[str], time_scale: float,
                           pva: dict | None = None, **more) -> None:
    """Leave ``ioc-<key>.json`` (``key``: the IOC's prefix, or its name if it has none) in the
    data root so clients on this machine find the port (and, with ``--pva``, the PV Access
    server and broadcast ports).

    The file is this IOC's: it is removed at exit only if it is still this IOC's, and an IOC
    whose key already has a live IOC's file in this data root refuses to start.
    """
    info = {"prefix": key, "port": int(os.environ.get("EPICS_CA_SERVER_PORT", "5064")), "pid": os.getpid(),
            "interfaces": interfaces, "data_root": str(data_root), "time_scale": time_scale, **more}
    if os.environ.get("EPICS_CA_REPEATER_PORT", "").isdigit():
        info["repeater_port"] = int(os.environ["EPICS_CA_REPEATER_PORT"])
    if pva:
        info["pva_server_port"] = int(pva["EPICS_PVAS_SERVER_PORT"])
        info["pva_broadcast_port"] = int(pva["EPICS_PVAS_BROADCAST_PORT"])
    try:
        path, stale = claim_connection_file(key, data_root, info)
    except PrefixInUse as exc:
        raise SystemExit(f"beamline-ioc: not starting: {exc}") from None
    except OSError as exc:
        print(f"beamline-ioc: cannot write the connection file in {data_root}: {exc.strerror}", file=sys.stderr)
        return
    if stale is not None:
        print(f"beamline-ioc: replaced a stale connection file {path} (PID {stale.get('pid')} is not running)",
              file=sys.stderr)
    atexit.register(release_connection_file, path, os.getpid())


def _parser(argv: list[str] | None):
    parser, split_args = template_arg_parser(default_prefix=None, desc=DESCRIPTION, argv=argv,
                                             supported_async_libs=["asyncio"])
    parser.add_argument("--config", metavar="FILE",
                        help="serve the IOCs this configuration file declares (YAML; see docs/configuration.md), "
                             f"or a shipped one by name: {', '.join(config.SHIPPED)}. --prefix then replaces the "
                             "prefix of a file with one IOC")
    parser.add_argument("--ioc", metavar="NAME",
                        help="with --config: serve only this IOC of the file (default: each IOC in a process of "
                             "its own, the first on EPICS_CA_SERVER_PORT, the others on free ports)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulated seconds per wall second (exposures and moves run this much faster); default 1")
    parser.add_argument("--seed", type=int, default=None, help="seed of the noise generator, for reproducible frames")
    parser.add_argument("--data-root", type=Path, default=default_data_root(),
                        help="the only directory tree the camera may write files into; created if missing "
                             "(default $BEAMLINE_DATA_ROOT or ~/.local/share/beamline-sim)")
    parser.add_argument("--ring", choices=RING_MODES, default=None,
                        help="ring current model: TopUp (decay and injections, the default) or Constant; "
                             "replaces the configuration's")
    parser.add_argument("--sensor-shape", type=_shape, default=None,
                        help="every camera's sensor ROWSxCOLS, replacing the configuration's (default 480x640)")
    parser.add_argument("--readout-row-time", type=float, default=ROW_TIME,
                        help=f"seconds each camera takes to read out each sensor row after an exposure (default "
                             f"{ROW_TIME:g}, an sCMOS: 2.4 ms for 480 rows; 0: no readout time). The time scale "
                             f"does not shorten it")
    parser.add_argument("--mini-beamline", action="store_true",
                        help="also serve caproto's mini_beamline example PVs (ph, edge, slit, dot, current) "
                             "under --mini-prefix, on this IOC's ring and physics (the shipped configuration "
                             "mini_beamline)")
    parser.add_argument("--mini-prefix", default="mini:", help="prefix of the mini_beamline PVs (default mini:)")
    parser.add_argument("--pva", action="store_true",
                        help="also serve each NDPva plugin's Image (NTNDArray) over PV Access with p4p (the 'pva' "
                             "extra), on EPICS_PVAS_SERVER_PORT/EPICS_PVAS_BROADCAST_PORT (default 5075/5076), "
                             "on the CA server's interfaces unless EPICS_PVAS_INTF_ADDR_LIST is set")
    parser.add_argument("--no-autosave", action="store_true",
                        help="start from the defaults and save no settings (default: restore the settings "
                             "saved in <data root>/autosave/ and keep saving them, as EPICS autosave does)")
    parser.add_argument("--autosave-period", type=float, default=autosave.PERIOD,
                        help=f"wall seconds between saves of changed settings (default {autosave.PERIOD:g})")
    parser.add_argument("--acf", type=Path, default=None,
                        help="EPICS access security file (UAG/HAG/ASG/RULE) to enforce (default: the configuration's "
                             "access_security file, else the shipped ioc/server/default.acf: everyone reads; the "
                             "hardware for users on this host; sim: for the user who started the IOC); reloaded on "
                             "SIGHUP or a put to sim:ACFReload. With --config it replaces every IOC's file")
    return parser, split_args


def _configured(parser, args) -> config.Beamline:
    """The configuration to serve: --config's (checked: a bad file is refused with its line and key),
    or the shipped beamline under --prefix."""
    if args.config is None:
        if args.ioc:
            parser.error("--ioc NAME needs --config FILE")
        try:
            return shipped("beamline", args.prefix or DEFAULT_PREFIX)
        except config.ConfigError as exc:
            parser.error(f"--prefix: {exc.problems[0].message}")
    if args.mini_beamline:
        parser.error("--mini-beamline is a shorthand for the shipped configurations; with --config, declare the "
                     "mini_beamline devices in the file (see configs/mini_beamline.yaml)")
    try:
        beamline = load(config.locate(args.config), prefix=args.prefix)
    except config.ConfigError as exc:
        print(f"beamline-ioc: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.ioc is not None:
        try:
            beamline.ioc(args.ioc)
        except KeyError as exc:
            parser.error(f"--ioc: {exc.args[0]}")
    return beamline


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``beamline-ioc``."""
    if "EPICS_CAS_INTF_ADDR_LIST" not in os.environ:
        # Loopback unless asked otherwise: --interfaces 0.0.0.0 opens the IOC to the network.
        os.environ["EPICS_CAS_INTF_ADDR_LIST"] = "127.0.0.1"
    parser, split_args = _parser(argv)
    args = parser.parse_args(argv)
    if not (1e-3 <= args.time_scale <= 1e6):
        parser.error(f"--time-scale must be between 1e-3 and 1e6, not {args.time_scale}")
    if not (0.0 <= args.readout_row_time <= 1e-3):
        parser.error(f"--readout-row-time must be between 0 and 0.001 s, not {args.readout_row_time}")
    if not (0.05 <= args.autosave_period <= 3600):
        parser.error(f"--autosave-period must be between 0.05 and 3600 s, not {args.autosave_period}")
    beamline = _configured(parser, args)
    try:
        args.data_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--data-root {args.data_root}: cannot create it: {exc.strerror}")
    if not os.access(args.data_root, os.W_OK | os.X_OK):
        parser.error(f"--data-root {args.data_root}: not writable")
    ioc_options, run_options = split_args(args)
    _loopback_defaults(run_options["interfaces"])
    try:
        port, note = choose_port(os.environ, run_options["interfaces"], args.data_root)
    except PortTaken as exc:
        parser.error(str(exc))
    os.environ["EPICS_CA_SERVER_PORT"] = str(port)  # the one caproto's server binds (serve_each: the first IOC's)
    if note:
        print(f"beamline-ioc: {note}", file=sys.stderr, flush=True)
    if all(i.startswith("127.") for i in run_options["interfaces"]):
        # As on an IOC's host, a CA repeater runs (unless EPICS_CA_REPEATER_PORT names one): the
        # IOC's beacons reach clients through it, and a client given its port (the connection
        # file's, exported by beamline.connection) starts none (libca would look for caRepeater
        # on PATH, and print that it is not there).
        start_repeater()
    if args.config is not None and args.ioc is None and len(beamline.iocs) > 1:
        raise SystemExit(serve_each(beamline, sys.argv[1:] if argv is None else list(argv)))
    iocs = [beamline.ioc(args.ioc)] if args.ioc else list(beamline.iocs)
    pva_server = None
    if args.pva:
        try:
            pva_server = ImageServer(server_config(run_options["interfaces"]))
        except (PvaUnavailable, RuntimeError) as exc:
            parser.error(f"--pva: {exc}")
        atexit.register(pva_server.close)
    ioc = BeamlineIOC(iocs, data_root=args.data_root, time_scale=args.time_scale, seed=args.seed,
                      ring_mode=args.ring, sensor_shape=args.sensor_shape, pva_server=pva_server,
                      readout_row_time=args.readout_row_time)
    if args.mini_beamline:
        try:
            ioc.add_mini_beamline(args.mini_prefix)
        except (ValueError, config.ConfigError) as exc:
            parser.error(f"--mini-prefix {args.mini_prefix!r}: {exc}")
    remote = ioc.follow_remote(beamline)
    access = ioc.enforce_access_security(args.acf)  # refuses a bad file: not started
    more = {"ioc": ioc.name, "config": str(beamline.source)} if args.config else {}
    _write_connection_file(ioc.key, ioc.data_root, run_options["interfaces"], args.time_scale,
                           ioc.pva_server.config() if ioc.pva_server else None, **more)

    def listening(tcp: int, udp: int) -> None:
        ports = f"port {udp}" if tcp == udp else f"port {udp} (UDP searches; TCP {tcp}: another server had it)"
        print(f"beamline-ioc: {ioc.served}, {len(ioc.pvdb)} PVs, interfaces {run_options['interfaces']}, "
              f"{ports}, data root {ioc.data_root}, time scale {args.time_scale}, access security {access.acf}"
              + (f", PV Access on {ioc.pva_server.config()['EPICS_PVAS_INTF_ADDR_LIST']}" if ioc.pva_server else ""),
              file=sys.stderr, flush=True)

    # `kill PID` stops the IOC as Ctrl-C does: cleanly, removing its connection file.
    signal.signal(signal.SIGTERM, _interrupt)
    saver = None if args.no_autosave else ioc.make_autosave(args.autosave_period)

    async def startup(async_lib) -> None:
        # Thousands of records and their fields live as long as the IOC: kept out of the
        # garbage collector's scans, whose pauses (tens of ms) stall every client's requests.
        gc.collect()
        gc.freeze()
        # The frame and file threads hand the GIL to the event loop (and back) within this,
        # not CPython's default 5 ms: a thread waiting for it waits out the interval.
        sys.setswitchinterval(SWITCH_INTERVAL)
        if remote is not None:
            await remote.start()
        if saver is not None:
            await saver.run()

    try:
        server.run(ioc.pvdb, startup_hook=startup, access=access, listening=listening, **run_options)
    finally:
        if saver is not None:
            saver.save()  # a clean exit keeps the last changes too


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
