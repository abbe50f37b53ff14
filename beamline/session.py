"""What the tutorial's ``%run ../beamline_configuration.py`` sets up.

``from beamline.session import *`` gives ``RE``, ``db``, ``bp``, ``bps``, ``np``, ``plt``,
``bec`` (bluesky's BestEffortCallback: live table and plots, see :mod:`beamline.live`) and
the devices ``dot`` (``dot.exp`` is the exposure, s), ``I`` (ring current, mA),
``mtr_dotx`` and ``mtr_doty``: the session is made (the IOC connected to) when
these names are first used. ``make_session(prefix)`` makes another one.

Live plots redraw at most twice a second (``bec.max_redraw_rate``) while a run is live. With
matplotlib's backend unable to show figures (Agg: a terminal without a display) the plots are
off; ``bec.enable_plots()`` makes them anyway (then ``plt.savefig``), ``bec.disable_plots()``
turns them off anywhere.

If the IOC dies mid-run, the run fails (exit status ``'fail'``) within about a second
and keeps every event taken so far; a hung IOC fails it after the timeouts described in
:mod:`beamline.devices`. Once the IOC is back (same prefix) the same session reconnects
by itself: run the next plan.

Configuration, by environment variable (set them before importing):

=========================== =====================================================
``BEAMLINE_PREFIX``          PV prefix of the IOC (default ``BL:``)
``EPICS_CA_ADDR_LIST``       where to look for it (default ``127.0.0.1``, with
                             ``EPICS_CA_AUTO_ADDR_LIST=NO``)
``EPICS_CA_SERVER_PORT``     its port (default: the port in the connection file a
                             running ``beamline-ioc`` leaves in its data root, else 5064)
``BEAMLINE_DATABROKER_DIR``  where runs are stored (default
                             ``~/.local/share/beamline-sim/databroker``), with
                             ``RE.md/`` (scan ids) and ``session.log``
``BEAMLINE_LIVE``            ``0`` turns off the live table, plots and progress bars
``BEAMLINE_CONNECT_TIMEOUT`` seconds to wait for the IOC (default 5)
``BEAMLINE_TILED_URI``       a tiled server to store every run in too (with
                             ``BEAMLINE_TILED_API_KEY``); default: the one whose
                             ``tiled.json`` is in the data root, if it runs
=========================== =====================================================

With a tiled server, ``tiled`` is a client of it (``tiled[uid]["primary"]["dot_img"]``
reads the frames lazily); without one it is None.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from .connection import apply_ca_environment

# libca reads its settings once, when the first channel is made: before ophyd is used.
apply_ca_environment()

import bluesky.plan_stubs as bps  # noqa: E402
import bluesky.plans as bp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from bluesky.utils import PersistentDict, ProgressBarManager  # noqa: E402

from beamline_shared.paths import default_data_root  # noqa: E402

from .connection import connect_or_explain, ioc_data_root  # noqa: E402
from .devices import make_devices  # noqa: E402
from .live import live_feedback  # noqa: E402
from .run_engine import RunEngine  # noqa: E402
from .storage import default_storage_dir, metadata_dir, open_broker  # noqa: E402
from .terminal_errors import show_errors_briefly  # noqa: E402
from .tiled_connection import find_tiled_server  # noqa: E402

PREFIX = os.environ.get("BEAMLINE_PREFIX", "BL:")
LIVE = os.environ.get("BEAMLINE_LIVE", "1") not in ("0", "no", "false", "off")


class SessionLogHandler(logging.FileHandler):
    """A FileHandler that, when it cannot write (the disk under the store is full), says so in
    one line on stderr, once until a write succeeds again, instead of logging's traceback per
    record. What it could not write stays in its buffer and goes out once there is room."""

    _failing = False  # the last write failed
    _failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if not self._failed_now:
            self._failing = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self._failed_now = True
        if not self._failing:
            self._failing = True
            sys.stderr.write(f"beamline: cannot write the session log {self.baseFilename}: {sys.exc_info()[1]}\n")


def log_to_file(path: Path) -> None:
    """Send bluesky's and ophyd's log records (warnings and up) to ``path``, not to the terminal.

    With no handler configured, Python prints them to stderr: a failed plan then shows its
    traceback twice (``Run aborted`` from the RunEngine, then the exception itself) and a
    refused set once more from ophyd's set thread. The exception the user gets says it all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = SessionLogHandler(path)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.beamline_session = True
    for name in ("bluesky", "ophyd"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "beamline_session", False)]:
            logger.removeHandler(old)  # the latest session's log only
            old.close()
        logger.addHandler(handler)


def make_session(prefix: str = PREFIX, live: bool = LIVE, timeout: float | None = None,
                 config: str | Path | None = None) -> dict:
    """Connect to the IOC and build the RunEngine, databroker and devices; returns the namespace.

    ``config``: a beamline configuration file (or a shipped one's name): devices for everything
    it declares, named as it names them (:mod:`beamline.configured`), instead of the tutorial's.
    """
    timeout = float(os.environ.get("BEAMLINE_CONNECT_TIMEOUT", "5")) if timeout is None else timeout
    if config is not None:
        from .configured import connect_configured

        devices, data_root = connect_configured(config, timeout)
    else:
        data_root = ioc_data_root(prefix, timeout)
        devices = make_devices(prefix, write_path_template=os.path.join(data_root, "images", "%Y", "%m", "%d", ""))
        connect_or_explain(prefix, devices.values(), timeout)

    RE = RunEngine({})
    # Scan ids keep counting from session to session, as at a beamline.
    RE.md = PersistentDict(str(metadata_dir()))
    db = open_broker()
    RE.subscribe(db.insert)
    log_to_file(default_storage_dir() / "session.log")
    bec = live_feedback()
    show_errors_briefly()  # in a terminal IPython session: the error's message, %tb for its traceback
    if live:
        RE.subscribe(bec)
        RE.waiting_hook = ProgressBarManager()
    return {"RE": RE, "db": db, "bec": bec, "tiled": subscribe_tiled(RE, data_root), **devices}


def subscribe_tiled(RE: RunEngine, *data_roots) -> object | None:
    """Store every run in tiled too, if a server is configured (see above); its client, or None."""
    server = find_tiled_server(*data_roots, default_data_root())
    if server is None:
        return None
    if server.get("api_key") is None and "keys" in server:
        import getpass

        raise ConnectionError(f"beamline-tiled at {server['uri']} serves several users and has no key for "
                              f"{getpass.getuser()!r} in {server['keys']}: it must be started with "
                              f"--user {getpass.getuser()}")
    from .tiled_storage import tiled_client, tiled_writer

    try:
        client = tiled_client(server["uri"], server.get("api_key"))
    except Exception as exc:
        raise ConnectionError(f"cannot reach the tiled server at {server['uri']}: {exc}") from None
    RE.subscribe(tiled_writer(client, backup_directory=default_storage_dir() / "tiled-backup"))
    return client


_NAMES = ("RE", "db", "bec", "tiled", "dot", "I", "mtr_dotx", "mtr_doty")
_session: dict | None = None


def __getattr__(name: str):
    # The module's session is made when one of its names is first used (``from
    # beamline.session import *`` does), not on import: ``from beamline.session import
    # make_session`` connects to nothing.
    global _session
    if name in _NAMES:
        if _session is None:
            _session = make_session()
        return _session[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["bp", "bps", "np", "plt", "make_session", *_NAMES]  # _NAMES: made on first use
