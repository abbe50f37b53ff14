"""The beamline's devices built from ophyd-async (0.21.3) classes, and a session around them.

``make_async_session(prefix)`` returns the same names as :func:`beamline.session.make_session`
(``RE``, ``bec``, ``tiled``, ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty``), built from stock
ophyd-async classes over Channel Access (aioca):

* ``dot``: ``SimDetector`` (``cam1:``) with the TIFF writer (``ADWriterFactory.tiff``,
  ``TIFF1:``) and the stats plugin (``NDStatsIO``, ``Stats1:``) whose ``Total_RBV`` is read
  with every frame (data key ``dot-stats-total``); frames are written by the IOC under
  ``<data root>/images/YYYY/MM/DD/dot/`` and the run records StreamResource/StreamDatum
  documents pointing at them (data key ``dot``, shape ``(480, 640)``);
* ``mtr_dotx``, ``mtr_doty``: ``ophyd_async.epics.motor.Motor`` (data keys ``motor_dotx``,
  ``motor_doty``);
* ``I``: the ring current (mA), ``epics_signal_r(float, ...)``.

Runs are stored in tiled (databroker 1.2.5 cannot read StreamResource documents): the
session subscribes bluesky's TiledWriter when a tiled server is found, as the legacy
session does (``BEAMLINE_TILED_URI``, or the ``tiled.json`` of a running
``beamline-tiled`` in the data root). Without one it stores nothing and says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import PurePosixPath

from .connection import apply_ca_environment, ioc_data_root

logger = logging.getLogger(__name__)


def make_async_devices(prefix: str, data_root: str) -> dict:
    """ophyd-async ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty`` (named, not yet connected)."""
    from ophyd_async.core import UUIDFilenameProvider, YMDPathProvider
    from ophyd_async.epics.adcore import ADWriterFactory, NDStatsIO, PluginSignalDataLogic
    from ophyd_async.epics.adsimdetector import SimDetector
    from ophyd_async.epics.core import epics_signal_r
    from ophyd_async.epics.motor import Motor

    # <data root>/images/YYYY/MM/DD/dot/<uuid>_000000.tiff: the IOC creates the five levels.
    path_provider = YMDPathProvider(UUIDFilenameProvider(), PurePosixPath(data_root) / "images",
                                    create_dir_depth=-5, datakey_name_as_base_dir=True)
    stats = NDStatsIO(f"{prefix}dot:Stats1:")
    dot = SimDetector(f"{prefix}dot:", ADWriterFactory.tiff(path_provider, writer_suffix="TIFF1:"),
                      plugins={"stats": stats}, name="dot")
    # Stats1's total with each frame, read once the plugins are done with it.
    dot.add_detector_logics(PluginSignalDataLogic(driver=dot.driver, signal=stats.total))
    return {
        "dot": dot,
        "I": epics_signal_r(float, f"{prefix}ring:current", name="I"),
        "mtr_dotx": Motor(f"{prefix}mtr:dotx", name="motor_dotx"),
        "mtr_doty": Motor(f"{prefix}mtr:doty", name="motor_doty"),
    }


def connect_async_devices(devices: dict, timeout: float) -> None:
    """Connect ophyd-async devices in bluesky's event loop; raises ``NotConnectedError`` naming what did not."""
    from bluesky.run_engine import call_in_bluesky_event_loop
    from ophyd_async.core import wait_for_connection

    async def connect():
        await wait_for_connection(**{name: device.connect(timeout=timeout) for name, device in devices.items()})

    call_in_bluesky_event_loop(connect())


def make_async_session(prefix: str | None = None, live: bool | None = None, timeout: float | None = None) -> dict:
    """The beamline from ophyd-async devices: ``RE``, ``bec``, ``tiled``, ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty``."""
    apply_ca_environment(prefix)
    from bluesky import RunEngine
    from bluesky.callbacks.best_effort import BestEffortCallback

    from .session import LIVE, PREFIX, subscribe_tiled

    prefix = PREFIX if prefix is None else prefix
    live = LIVE if live is None else live
    timeout = float(os.environ.get("BEAMLINE_CONNECT_TIMEOUT", "5")) if timeout is None else timeout
    data_root = ioc_data_root(prefix, timeout)
    RE = RunEngine({})  # makes bluesky's event loop, in which the devices connect and run
    devices = make_async_devices(prefix, data_root)
    connect_async_devices(devices, timeout)
    bec = BestEffortCallback()
    if live:
        RE.subscribe(bec)
    tiled = subscribe_tiled(RE, data_root)
    if tiled is None:
        logger.warning("No tiled server found (BEAMLINE_TILED_URI, or beamline-tiled's tiled.json in %s): "
                       "runs of the ophyd-async session are not stored", data_root)
    return {"RE": RE, "bec": bec, "tiled": tiled, **devices}


__all__ = ["make_async_devices", "make_async_session"]
