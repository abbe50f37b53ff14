"""The cost of each plugin's arithmetic (``ioc.areadetector.compute``) on one camera frame.

    python -m bench.plugin_compute            # a table of medians, ms per frame
    python -m bench.plugin_compute --json out.json

Each stage runs on the same 480 x 640 UInt32 frame of the beam spot (5 ms exposure at
500 mA, from ``ioc.sim.physics``; Proc1's background is a frame with the beam off), in this
process, without EPICS: what a plugin adds to a
frame's path before it posts anything. The least and the median of ``--repeats`` timings
of ``--number`` calls each (on a shared machine the least is the stage's cost).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from ioc.areadetector.compute import color_convert, overlay, process, roi, roi_stat, transform
from ioc.areadetector.compute.circular_buffer import CircularBuffer
from ioc.sim import physics


def _frames(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A frame of the spot and a frame with the beam off (the background Proc1 saves)."""
    rng = np.random.default_rng(seed)
    return physics.frame(rng, 0.0, 0.0, 0.005, 500.0), physics.frame(rng, 0.0, 0.0, 0.005, 0.0)


def stages(frame: np.ndarray, dark: np.ndarray) -> dict[str, Callable[[], object]]:
    """Name -> a call that does one frame's work of that stage."""
    out: dict[str, Callable[[], object]] = {}

    full = roi.RoiSettings()
    out["ROI full frame (defaults: passes the frame)"] = lambda: roi.roi(frame, full)
    crop = roi.RoiSettings()
    crop.x.min, crop.x.size, crop.y.min, crop.y.size = 160, 320, 120, 240
    out["ROI 320x240 crop"] = lambda: roi.roi(frame, crop)
    binned = roi.RoiSettings()
    binned.x.bin = binned.y.bin = 2
    out["ROI full frame, bin 2x2"] = lambda: roi.roi(frame, binned)
    scaled = roi.RoiSettings(enable_scale=True, scale=4.0)
    scaled.x.bin = scaled.y.bin = 2
    out["ROI bin 2x2, scale 4"] = lambda: roi.roi(frame, scaled)
    f32 = roi.RoiSettings(data_type="Float32")
    out["ROI full frame to Float32"] = lambda: roi.roi(frame, f32)

    def proc(**settings) -> Callable[[], object]:
        p = process.Process(process.ProcessSettings(**settings))
        p.last_output = dark
        p.save_background()
        p.last_output = frame
        p.save_flat_field()
        return lambda: p.process(frame)

    out["Process nothing enabled"] = proc()
    out["Process background (UInt32 out)"] = proc(enable_background=True)
    out["Process background (Float32 out)"] = proc(enable_background=True, data_type="Float32")
    out["Process background+flat+offset/scale+clips"] = proc(
        enable_background=True, enable_flat_field=True, enable_offset_scale=True, enable_low_clip=True,
        enable_high_clip=True, high_clip_thresh=1e9)
    out["Process recursive filter N=10 (Float32 out)"] = proc(enable_filter=True, num_filter=10, data_type="Float32")

    for name in ("Rot90", "Rot180", "Mirror"):
        out[f"Transform {name}"] = lambda name=name: transform.transform(frame, name)

    boxes = overlay.Overlays()
    for n, (x, y) in enumerate([(100, 100), (300, 200)]):
        o = boxes.overlays[n]
        o.use, o.shape, o.width_x, o.width_y = True, "Rectangle", 1, 1
        o.put_position_x(x)
        o.put_position_y(y)
        o.put_size_x(120)
        o.put_size_y(80)
    out["Overlay 2 rectangles"] = lambda: boxes.draw(frame)
    text = overlay.Overlays()
    t = text.overlays[0]
    t.use, t.shape, t.size_x, t.size_y, t.display_text = True, "Text", 400, 20, "dot "
    stamp = itertools.count(1.7e9, 0.01)  # a new time stamp each frame: the text is drawn anew
    out["Overlay text with time stamp"] = lambda: text.draw(frame, timestamp=next(stamp))

    out["ColorConvert Mono to Mono"] = lambda: color_convert.convert(frame, "Mono")
    out["ColorConvert Mono to RGB1"] = lambda: color_convert.convert(frame, "RGB1")

    cb = CircularBuffer()
    cb.put_trigger_calc("A>1e9")
    cb.put_capture(True)
    attrs = {"RingCurrent": 500.0}
    cb.trigger_a = "RingCurrent"
    out["CircularBuff, calc trigger not met"] = lambda: cb.process(frame, attrs)

    rs = roi_stat.RoiStat()
    for n, r in enumerate(rs.regions):
        r.use, r.min_x, r.min_y, r.size_x, r.size_y, r.bgd_width = True, 60 * n, 40 * n, 100, 100, 5
    out["ROIStat 8 regions 100x100, bgd 5"] = lambda: rs.process(frame)
    whole = roi_stat.RoiStat(regions=1)
    whole.regions[0].use, whole.regions[0].size_x, whole.regions[0].size_y = True, 640, 480
    out["ROIStat 1 region, full frame"] = lambda: whole.process(frame)

    out["Stats (physics.stats), full frame"] = lambda: physics.stats(frame)
    chain = process.Process(process.ProcessSettings(enable_background=True, data_type="Float32"))
    chain.last_output = dark
    chain.save_background()

    def proc_roi_stats():
        return physics.stats(roi.roi(chain.process(frame), crop).data)

    out["chain Proc1 (bg, Float32) -> ROI1 320x240 -> Stats"] = proc_roi_stats
    return out


def measure(call: Callable[[], object], number: int, repeats: int) -> tuple[float, float]:
    """(least, median) ms per call over the repeats: on a shared machine the least is the cost."""
    call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            call()
        times.append((time.perf_counter() - t0) / number * 1e3)
    return min(times), statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    results = {name: measure(call, args.number, args.repeats) for name, call in stages(*_frames()).items()}
    width = max(map(len, results))
    print(f"{'stage (480x640 UInt32 frame), ms per frame':<{width}}     least   median")
    for name, (least, median) in results.items():
        print(f"{name:<{width}}  {least:8.3f} {median:8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
