"""The IOC's plugin work per frame, in this process: the camera's plugins built as the IOC builds them
(``ioc.beamline.build_ioc``), frames of the beam spot delivered to the driver's port and drained, no CA.

``cpu_ms(chain=True)`` wires ROI1 (a 320 x 240 region) -> Proc1 (subtracting a saved
background, into Int32) -> Stats1 and TIFF1 on Proc1, as :func:`bench.overhead.wire_chain` does over
CA; ``chain=False`` leaves TIFF1 and Stats1 on the camera. Returns the median wall time and
the mean CPU time (this process's, every thread) per frame, in ms: what the plugins cost
whatever else the machine runs.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ioc.areadetector.ndarray import Frame
from ioc.beamline import build_ioc
from ioc.sim import physics


async def _run(chain: bool, frames: int) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    plugins = build_ioc("CHAIN:", data_root=root).camera.plugins
    try:
        for plugin in plugins.values():
            await plugin.start()
        for suffix in ("image1:", "HDF1:", "Pva1:"):
            await plugins[suffix].enable_callbacks.write("Disable")
        tiff, stats, roi, proc = (plugins[s] for s in ("TIFF1:", "Stats1:", "ROI1:", "Proc1:"))
        ports = tiff.ports
        for chan, value in ((tiff.create_directory, -3), (tiff.file_path, str(root / "tiff")),
                            (tiff.file_name, "f"), (tiff.auto_save, "Yes")):
            await chan.write(value)
        if chain:
            for chan, value in ((roi.min_x, 160), (roi.size_x, 320), (roi.min_y, 120), (roi.size_y, 240),
                                (roi.enable_callbacks, "Enable"), (proc.nd_array_port, "ROI1"),
                                (proc.data_type_out, "Int32"),
                                (proc.enable_callbacks, "Enable"), (stats.nd_array_port, "PROC1"),
                                (tiff.nd_array_port, "PROC1")):
                await chan.write(value)
        image = physics.frame(np.random.default_rng(0), 0.0, 0.0, 0.005, 500.0)
        if chain:
            await ports.deliver("DOT1", Frame(image, 0, time.time()))
            await ports.drain()
            await proc.save_background.write("Yes")
            await proc.enable_background.write("Enable")
        walls = []
        cpu0 = time.process_time()
        for n in range(1, frames + 1):
            t0 = time.perf_counter()
            await ports.deliver("DOT1", Frame(image, n, time.time()))
            await ports.drain()
            walls.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / frames
        for plugin in plugins.values():
            await plugin.stop()
        return 1e3 * statistics.median(walls), 1e3 * cpu
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cpu_ms(chain: bool, frames: int = 100) -> tuple[float, float]:
    """(median wall ms, mean CPU ms) per frame of the plugins' work, with the chain or the default wiring."""
    return asyncio.run(_run(chain, frames))
