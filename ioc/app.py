"""The beamline IOC: two motors, the ring current and the ``dot`` camera under one prefix.

Run ``beamline-ioc --help`` for the options. By default it serves on loopback only
(127.0.0.1) on the port in ``EPICS_CA_SERVER_PORT`` (5064 if unset).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from pathlib import Path
from textwrap import dedent

import numpy as np
from caproto.server import PVGroup, SubGroup, template_arg_parser

from beamline_shared.paths import PrefixInUse, claim_connection_file, default_data_root, release_connection_file

from . import autosave, ca_server
from .areadetector import Camera
from .faults import FaultControls
from .mini_beamline import MiniBeamline
from .motor import SimMotor
from .physics import SENSOR_SHAPE, ConstantRing, StoredBeam, TopUp
from .pva import ImageServer, PvaUnavailable, server_config
from .records import harden
from .ring import RING_MODES, RingCurrent, SimControls
from .simclock import SimClock

DEFAULT_PREFIX = "BL:"


class BeamlineIOC(PVGroup):
    """
    A simulated beamline: a camera looking at a beam spot that two motors move.

    PVs (after the prefix)
    ----------------------
    mtr:dotx, mtr:doty   motor records (mm)
    ring:current         storage-ring current (mA), top-up
    dot:cam1:            areaDetector driver (AcquireTime is the exposure, s)
    dot:TIFF1:           NDFileTIFF plugin: one TIFF file per frame
    dot:HDF1:            NDFileHDF5 plugin: frames into HDF5 files (SWMR)
    dot:image1:          NDPluginStdArrays: the last frame for live viewers
    dot:Stats1:          NDPluginStats: total, max, mean, sigma, centroid
    dot:Pva1:            NDPluginPva: dot:Pva1:Image over PV Access (--pva)
    sim:                 simulation controls: TimeScale, Seed, RingMode, Time, DataRoot;
                         faults on demand: BeamDump, RefillTime, CamFault, MotorStall, Freeze,
                         ClearFaults
    mini:...             caproto's mini_beamline example names (--mini-beamline)
    """

    mtr_dotx = SubGroup(SimMotor, prefix="mtr:dotx", description="Beam spot x on the dot camera", channel=0)
    mtr_doty = SubGroup(SimMotor, prefix="mtr:doty", description="Beam spot y on the dot camera", channel=1)
    ring = SubGroup(RingCurrent, prefix="ring:")
    dot = SubGroup(Camera, prefix="dot:")
    sim = SubGroup(SimControls, prefix="sim:")
    faults = SubGroup(FaultControls, prefix="sim:")

    def __init__(
        self,
        *args,
        data_root: Path,
        time_scale: float = 1.0,
        seed: int | None = None,
        ring_mode: str = "TopUp",
        sensor_shape: tuple[int, int] = SENSOR_SHAPE,
        **kwargs,
    ) -> None:
        self.clock = SimClock(time_scale)
        self.data_root = Path(os.path.realpath(data_root))
        self.sensor_shape = sensor_shape
        # The stored beam wraps the ring model so that a beam dump (sim:BeamDump) survives
        # a change of RingMode; ring_model reads and sets the model inside it.
        self.beam = StoredBeam(TopUp() if ring_mode == "TopUp" else ConstantRing())
        self.rng = np.random.default_rng(seed)
        self.mini: MiniBeamline | None = None  # caproto's mini_beamline names, if served (--mini-beamline)
        self.pva_server: ImageServer | None = None  # PV Access (NDPluginPva's NTNDArray), if served (--pva)
        super().__init__(*args, **kwargs)
        # Initial values of the sim: PVs, so clients read what the command line set.
        self.sim.time_scale._data["value"] = float(time_scale)
        self.sim.seed._data["value"] = int(seed or 0)
        self.sim.ring_mode._data["value"] = ring_mode
        self.sim.data_root._data["value"] = str(self.data_root)
        # Every PV, record fields included, refuses bad puts with a message saying why.
        harden(self.pvdb)

    @property
    def ring_model(self) -> StoredBeam:
        """The ring current model, beam dumps included (``current(t)``, ``mean_current(t0, t1)``)."""
        return self.beam

    @ring_model.setter
    def ring_model(self, model: TopUp | ConstantRing) -> None:
        self.beam.ring = model

    @property
    def ring_model_name(self) -> str:
        return "TopUp" if isinstance(self.beam.ring, TopUp) else "Constant"

    def ring_current_now(self) -> float:
        """Ring current in mA at this instant of simulated time."""
        return float(self.ring_model.current(self.clock.now()))

    def make_autosave(self, prefix: str, period: float = autosave.PERIOD) -> autosave.Autosave:
        """The settings saver of this IOC (see :mod:`ioc.autosave`), in its data root."""
        motors = {"mtr:dotx": self.mtr_dotx, "mtr:doty": self.mtr_doty}
        plugins = {"dot:TIFF1:": autosave.FILE_SETTINGS, "dot:HDF1:": autosave.FILE_SETTINGS, "dot:image1:": (),
                   "dot:Stats1:": autosave.STATS_SETTINGS, "dot:Pva1:": ()}
        restorers = {f"{prefix}{name}.{autosave.MOTOR_POSITION}": motor.restore_dial_position
                     for name, motor in motors.items()}
        return autosave.Autosave(self.pvdb, autosave.settings(prefix, motors, plugins),
                                 autosave.save_file(self.data_root, prefix), period, restorers)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.dot.cam.discard_prepared_background()
        if self.mini is not None:
            self.mini.reseed(seed)

    def add_mini_beamline(self, prefix: str, seed: int | None = None) -> dict:
        """Build caproto's mini_beamline PVs under ``prefix`` on this beamline; its PV database."""
        self.mini = MiniBeamline(prefix=prefix, beamline=self, seed=seed)
        clash = sorted(set(self.mini.pvdb) & set(self.pvdb))
        if clash:
            raise ValueError(f"--mini-prefix {prefix!r}: PV names clash with the beamline's: {', '.join(clash[:3])}")
        harden(self.mini.pvdb)
        return self.mini.pvdb


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
    # caproto's server binds EPICS_CA_SERVER_PORT; EPICS_CAS_SERVER_PORT is the server-side name.
    if os.environ.get("EPICS_CAS_SERVER_PORT") and not os.environ.get("EPICS_CA_SERVER_PORT"):
        os.environ["EPICS_CA_SERVER_PORT"] = os.environ["EPICS_CAS_SERVER_PORT"]


def _write_connection_file(prefix: str, data_root: Path, interfaces: list[str], time_scale: float,
                           pva: dict | None = None) -> None:
    """Leave ``ioc-<prefix>.json`` in the data root so clients on this machine find the port
    (and, with ``--pva``, the PV Access server and broadcast ports).

    The file is this IOC's: it is removed at exit only if it is still this IOC's, and an IOC
    whose prefix already has a live IOC's file in this data root refuses to start.
    """
    info = {"prefix": prefix, "port": int(os.environ.get("EPICS_CA_SERVER_PORT", "5064")), "pid": os.getpid(),
            "interfaces": interfaces, "data_root": str(data_root), "time_scale": time_scale}
    if pva:
        info["pva_server_port"] = int(pva["EPICS_PVAS_SERVER_PORT"])
        info["pva_broadcast_port"] = int(pva["EPICS_PVAS_BROADCAST_PORT"])
    try:
        path, stale = claim_connection_file(prefix, data_root, info)
    except PrefixInUse as exc:
        raise SystemExit(f"beamline-ioc: not starting: {exc}") from None
    except OSError as exc:
        print(f"beamline-ioc: cannot write the connection file in {data_root}: {exc.strerror}", file=sys.stderr)
        return
    if stale is not None:
        print(f"beamline-ioc: replaced a stale connection file {path} (PID {stale.get('pid')} is not running)",
              file=sys.stderr)
    atexit.register(release_connection_file, path, os.getpid())


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``beamline-ioc``."""
    if "EPICS_CAS_INTF_ADDR_LIST" not in os.environ:
        # Loopback unless asked otherwise: --interfaces 0.0.0.0 opens the IOC to the network.
        os.environ["EPICS_CAS_INTF_ADDR_LIST"] = "127.0.0.1"
    parser, split_args = template_arg_parser(
        default_prefix=DEFAULT_PREFIX,
        desc=dedent(BeamlineIOC.__doc__),
        argv=argv,
        supported_async_libs=["asyncio"],
    )
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulated seconds per wall second (exposures and moves run this much faster); default 1")
    parser.add_argument("--seed", type=int, default=None, help="seed of the noise generator, for reproducible frames")
    parser.add_argument("--data-root", type=Path, default=default_data_root(),
                        help="the only directory tree the camera may write files into; created if missing "
                             "(default $BEAMLINE_DATA_ROOT or ~/.local/share/beamline-sim)")
    parser.add_argument("--ring", choices=RING_MODES, default="TopUp",
                        help="ring current model: TopUp (decay and injections, default) or Constant")
    parser.add_argument("--sensor-shape", type=_shape, default=SENSOR_SHAPE,
                        help="camera sensor ROWSxCOLS (default 480x640)")
    parser.add_argument("--mini-beamline", action="store_true",
                        help="also serve caproto's mini_beamline example PVs (ph, edge, slit, dot, current) "
                             "under --mini-prefix, on this IOC's ring and physics")
    parser.add_argument("--mini-prefix", default="mini:", help="prefix of the mini_beamline PVs (default mini:)")
    parser.add_argument("--pva", action="store_true",
                        help="also serve dot:Pva1:Image (NTNDArray) over PV Access with p4p (the 'pva' extra), "
                             "on EPICS_PVAS_SERVER_PORT/EPICS_PVAS_BROADCAST_PORT (default 5075/5076), "
                             "on the CA server's interfaces unless EPICS_PVAS_INTF_ADDR_LIST is set")
    parser.add_argument("--no-autosave", action="store_true",
                        help="start from the defaults and save no settings (default: restore the settings "
                             "saved in <data root>/autosave/ and keep saving them, as EPICS autosave does)")
    parser.add_argument("--autosave-period", type=float, default=autosave.PERIOD,
                        help=f"wall seconds between saves of changed settings (default {autosave.PERIOD:g})")
    args = parser.parse_args(argv)
    if not (1e-3 <= args.time_scale <= 1e6):
        parser.error(f"--time-scale must be between 1e-3 and 1e6, not {args.time_scale}")
    if not (0.05 <= args.autosave_period <= 3600):
        parser.error(f"--autosave-period must be between 0.05 and 3600 s, not {args.autosave_period}")
    try:
        args.data_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"--data-root {args.data_root}: cannot create it: {exc.strerror}")
    if not os.access(args.data_root, os.W_OK | os.X_OK):
        parser.error(f"--data-root {args.data_root}: not writable")
    ioc_options, run_options = split_args(args)
    _loopback_defaults(run_options["interfaces"])
    ioc = BeamlineIOC(
        data_root=args.data_root,
        time_scale=args.time_scale,
        seed=args.seed,
        ring_mode=args.ring,
        sensor_shape=args.sensor_shape,
        **ioc_options,
    )
    pvdb = dict(ioc.pvdb)
    if args.mini_beamline:
        try:
            pvdb.update(ioc.add_mini_beamline(args.mini_prefix, seed=args.seed))
        except ValueError as exc:
            parser.error(str(exc))
    if args.pva:
        try:
            ioc.pva_server = ImageServer(server_config(run_options["interfaces"]))
        except (PvaUnavailable, RuntimeError) as exc:
            parser.error(f"--pva: {exc}")
        atexit.register(ioc.pva_server.close)
    _write_connection_file(args.prefix, ioc.data_root, run_options["interfaces"], args.time_scale,
                           ioc.pva_server.config() if ioc.pva_server else None)
    print(f"beamline-ioc: prefix {args.prefix!r}, {len(pvdb)} PVs, interfaces {run_options['interfaces']}, "
          f"port {os.environ.get('EPICS_CA_SERVER_PORT', '5064')}, data root {ioc.data_root}, "
          f"time scale {args.time_scale}"
          + (f", PV Access on {ioc.pva_server.config()['EPICS_PVAS_INTF_ADDR_LIST']}" if ioc.pva_server else ""),
          file=sys.stderr, flush=True)
    # `kill PID` stops the IOC as Ctrl-C does: cleanly, removing its connection file.
    signal.signal(signal.SIGTERM, _interrupt)
    saver = None if args.no_autosave else ioc.make_autosave(args.prefix, args.autosave_period)

    async def startup(async_lib) -> None:
        if saver is not None:
            await saver.run()

    try:
        ca_server.run(pvdb, startup_hook=startup, **run_options)
    finally:
        if saver is not None:
            saver.save()  # a clean exit keeps the last changes too


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
