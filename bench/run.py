"""The benchmark run: every measurement in order, its table rows, JSON figures and notes.

Imported by ``bench.__main__`` only after ``bench.env.configure`` has set the CA
environment (this module imports pyepics and ophyd).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

from . import ca, fill, frames, live, overhead, plugin_chain, profile, readout, viewers
from .report import Row, fmt
from .scan import SCAN_EXPOSURE_NOTE, Scanner, connect_devices, set_time_scale
from .servers import CaprotoReference, SoftIOC, server_errors, start_ioc
from .softioc_server import CHANNELS
from .timing import Samples, alternate

MAIN_SHAPE = (480, 640)
SCAN_TIME_SCALE = 1e4  # simulated s per wall s: a 0.1 s exposure takes 10 us of wall time
C_DEVICE = "BENCHC"
CAPROTO_DEVICE = "BENCHP"


def _channels(device: str) -> list[str]:
    """The reference servers' scalar channels (bench.softioc_server, bench.caproto_server)."""
    return [f"{device}:Chan{i:03d}" for i in range(CHANNELS)]


def _shape_key(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


class Bench:
    """State shared by the measurements of one run."""

    def __init__(self, plan, mode: str, ports: list[int], workdir: Path, profile_dir: Path | None = None) -> None:
        self.plan = plan
        self.profile_dir = profile_dir
        self.mode = mode
        self.ports = ports
        self.workdir = workdir
        self._rows: list[tuple[int, int, Row]] = []
        self.figures: dict[str, float] = {}
        self.notes: list[str] = []
        self.servers: list = []
        self.durations: dict[str, float] = {}
        self.scanner = Scanner(workdir / "databroker")

    # -- helpers -----------------------------------------------------------------------

    @contextlib.contextmanager
    def section(self, name: str):
        """Time a part of the run (reported in the notes)."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.durations[name] = time.monotonic() - t0

    def add(self, section: int, row: Row) -> None:
        """Add a row to the table; sections order it (scan, overhead, CA, fill, scaling, physics)."""
        self._rows.append((section, len(self._rows), row))

    @property
    def rows(self) -> list[Row]:
        return [row for _, _, row in sorted(self._rows, key=lambda item: item[:2])]

    def ioc(self, prefix: str, port: int, shape: tuple[int, int] | None = None):
        ioc = start_ioc(prefix, port, self.workdir, SCAN_TIME_SCALE, shape)
        self.servers.append(ioc)
        return ioc

    def stop(self, server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    def discard(self, uid: str) -> None:
        fill.remove_files(fill.run_files(self.scanner.db, uid))

    def scan_pair(self, devices: dict, shape: tuple[int, int], num: int, repeats: int, tag: str) -> dict:
        """Alternate ours and the baseline ``repeats`` times (order balanced).

        Returns Samples of the whole-run rates (``run``: ours, baseline, ratio), of the
        Event-to-Event rates (``events``), every Event interval of each side (``intervals``,
        ms) and the uid of the last run of ours (``uid``).
        """
        last: dict[str, str] = {}
        events: dict[str, Samples] = {"ours": Samples(), "baseline": Samples()}
        intervals: dict[str, Samples] = {"ours": Samples(), "baseline": Samples()}

        def note(side: str, result) -> float:
            events[side].add(result.fps)
            for ms in result.intervals_ms:
                intervals[side].add(ms)
            return result.run_fps

        def ours() -> float:
            result = self.scanner.ours(devices, num)
            if "ours" in last:
                self.discard(last["ours"])
            last["ours"] = result.uid
            return note("ours", result)

        def baseline() -> float:
            result = self.scanner.baseline(shape, num, self.workdir / f"baseline-{tag}")
            self.discard(result.uid)
            return note("baseline", result)

        a, b, r = alternate(repeats, ours, baseline)
        ratios = Samples([x / y for x, y in zip(events["ours"].values, events["baseline"].values, strict=True)])
        return {"run": (a, b, r), "events": (events["ours"], events["baseline"], ratios), "intervals": intervals,
                "uid": last["ours"]}

    # -- measurements ------------------------------------------------------------------

    def physics(self) -> None:
        """Frame generation: ioc.sim.physics against numpy's per-pixel Poisson (no servers)."""
        rng = np.random.default_rng(0)
        for exposure, key in ((0.005, "0005"), (0.1, "01")):
            a, b, r = alternate(self.plan.physics_repeats, lambda e=exposure: frames.ours_ms(rng, e, MAIN_SHAPE),
                                lambda e=exposure: frames.numpy_ms(rng, e, MAIN_SHAPE))
            self.figures[f"frame_ms_{key}"] = a.median
            self.figures[f"frame_ms_numpy_{key}"] = b.median
            self.add(6, Row(f"frame generation, {exposure:g} s exposure (ms)", fmt(a.median, 2),
                            fmt(b.median, 2), fmt(r.median, 2), "(info: lower is better)"))

    def scan(self, devices: dict, ioc) -> str:
        """Scan rate at 480x640, ours vs the in-process baseline; returns the last ours run's uid."""
        plan = self.plan
        # Warm up both paths (connections, first staging, imports, the IOC's and our heaps).
        warm = min(20, plan.scan_frames)
        self.discard(self.scanner.ours(devices, warm).uid)
        self.discard(self.scanner.baseline(MAIN_SHAPE, warm, self.workdir / "baseline-warmup").uid)
        pair = self.scan_pair(devices, MAIN_SHAPE, plan.scan_frames, plan.repeats, "main")
        a, b, r = pair["run"]
        ea, eb, er = pair["events"]
        ia, ib = pair["intervals"]["ours"], pair["intervals"]["baseline"]
        self.figures.update(scan_fps=a.median, scan_fps_baseline=b.median, scan_ratio=r.median,
                            scan_event_fps=ea.median, scan_event_fps_baseline=eb.median, scan_event_ratio=er.median,
                            scan_interval_ms_median=ia.median, scan_interval_ms_p95=ia.p95,
                            scan_interval_ms_median_baseline=ib.median, scan_interval_ms_p95_baseline=ib.p95)
        self.figures[f"scan_ms_per_frame_{plan.scan_frames}"] = 1000 / ea.median
        self.add(1, Row(f"scan rate, count([dot, I], num={plan.scan_frames}), whole run (frames/s)", fmt(a.median),
                        fmt(b.median), fmt(r.median, 2), ">= 1.0", r.median >= 1.0))
        self.add(1, Row("  Event to Event (staging left out) (frames/s)", fmt(ea.median), fmt(eb.median),
                        fmt(er.median, 2), "(info)"))
        self.add(1, Row("  per frame, Event interval median / p95 (ms)", f"{fmt(ia.median, 2)} / {fmt(ia.p95, 2)}",
                        f"{fmt(ib.median, 2)} / {fmt(ib.p95, 2)}", fmt(ia.median / ib.median, 2), "(info)"))
        self.notes.append(f"scan: {SCAN_EXPOSURE_NOTE}; the {plan.repeats} alternated repeats (order AB BA BA AB), "
                          f"whole run: ours {', '.join(fmt(v) for v in a.values)} frames/s, baseline "
                          f"{', '.join(fmt(v) for v in b.values)}, ratios {', '.join(fmt(v, 2) for v in r.values)} "
                          f"(p95 of the ratios {fmt(r.p95, 2)}, spread {100 * r.spread:.0f} %)")
        self.profile_scan(devices, ioc)
        return pair["uid"]

    def profile_scan(self, devices: dict, ioc) -> None:
        """One more scan of ours under py-spy (client and IOC), untimed; its profiles go to ``profile_dir``."""
        if self.profile_dir is None:
            return
        targets = {"client": os.getpid(), "ioc": ioc.pid}
        with profile.recording(targets, self.profile_dir, self.workdir / "py-spy.log") as written:
            result = self.scanner.ours(devices, self.plan.scan_frames)
        self.discard(result.uid)
        if not written:
            self.notes.append("profiles: py-spy not found or not permitted (see py-spy.log); none written")
        for name, path in written.items():
            self.notes.append(profile.summary(name, path))

    def live_plots(self, devices: dict) -> None:
        """The scan with the session's live plots on and off (bench.live)."""
        plan = self.plan
        rows, figures, notes = live.measure(self.scanner, devices, plan.scan_frames, plan.live_repeats,
                                            plan.live_stock_frames, self.discard)
        for row in rows:
            self.add(1, row)
        self.figures.update(figures)
        self.notes.extend(notes)

    def viewers(self, devices: dict, prefix: str, ioc) -> None:
        """The scan with live image viewers open and without (bench.viewers)."""
        plan = self.plan
        rows, figures, notes = viewers.measure(self.scanner, devices, prefix, plan.viewers, plan.scan_frames,
                                               plan.viewers_repeats, self.discard, ioc.pid)
        for row in rows:
            self.add(1, row)
        self.figures.update(figures)
        self.notes.extend(notes)

    def overhead(self, devices: dict, prefix: str, ioc) -> None:
        """Per-frame overhead at time scale 1, the whole scan and the IOC alone."""
        plan = self.plan
        overhead.prepare_ioc_only(prefix, Path(ioc.data_root) / "ioc-only")
        try:
            for exposure in plan.exposures:
                key = f"{exposure:g}".replace(".", "")
                scan_ms, ioc_ms, intervals = Samples(), Samples(), Samples()
                for _ in range(plan.overhead_repeats):
                    ms_above, result = overhead.scan_overhead_ms(self.scanner, devices, prefix, exposure,
                                                                 plan.overhead_frames)
                    scan_ms.add(ms_above)
                    for ms in result.intervals_ms:
                        intervals.add(ms - 1000 * exposure)
                    self.discard(result.uid)
                    ioc_ms.add(overhead.ioc_overhead_ms(prefix, exposure, plan.overhead_frames))
                self.figures[f"overhead_ms_{key}"] = scan_ms.median
                self.figures[f"overhead_ms_{key}_frame_median"] = intervals.median
                self.figures[f"overhead_ms_{key}_frame_p95"] = intervals.p95
                self.figures[f"overhead_ioc_ms_{key}"] = ioc_ms.median
                ms = 1000 * exposure
                self.add(2, Row(f"overhead per frame, {exposure:g} s exposure, scan, Event to Event (ms)", fmt(scan_ms.median),
                                fmt(ms), fmt((ms + scan_ms.median) / ms, 2), "<= 4 ms", scan_ms.median <= 4))
                self.add(2, Row("  per frame, Event interval - exposure, median / p95 (ms)",
                                f"{fmt(intervals.median)} / {fmt(intervals.p95)}", fmt(ms), "", "(info)"))
                self.add(2, Row("  of which the IOC alone (Acquire put-callback) (ms)", fmt(ioc_ms.median),
                                fmt(ms), fmt((ms + ioc_ms.median) / ms, 2), "(info)"))
            self.readout(prefix, ioc)
        finally:
            set_time_scale(prefix, SCAN_TIME_SCALE)
            devices["dot"].exp.set(0.1).wait(10)
            shutil_rmtree(Path(ioc.data_root) / "ioc-only")

    def readout(self, prefix: str, ioc) -> None:
        """The camera's readout, against an IOC without one (bench.readout)."""
        plan = self.plan
        zero = start_ioc("BENCHR:", self.ports[-1], self.workdir, 1.0, extra_args=["--readout-row-time", "0"])
        self.servers.append(zero)
        try:
            set_time_scale(prefix, 1.0)
            rows, figures, notes = readout.measure(prefix, ioc, "BENCHR:", zero, plan.overhead_frames,
                                                   plan.overhead_repeats)
        finally:
            self.stop(zero)
        for row in rows:
            self.add(2, row)
        self.figures.update(figures)
        self.notes.extend(notes)

    def plugin_chain(self, prefix: str, ioc) -> None:
        """The IOC alone (Acquire put-callback, time scale 1) with a frame passing ROI1 -> Proc1 ->
        Stats1 plus TIFF1, against the default wiring (TIFF1 and Stats1 on the camera), alternated."""
        plan = self.plan
        exposure = 0.005
        overhead.prepare_ioc_only(prefix, Path(ioc.data_root) / "ioc-only")

        def chain() -> float:
            overhead.wire_chain(prefix)
            try:
                return overhead.ioc_overhead_ms(prefix, exposure, plan.overhead_frames)
            finally:
                overhead.unwire_chain(prefix)

        try:
            a, b, r = alternate(2 * plan.overhead_repeats,
                                chain, lambda: overhead.ioc_overhead_ms(prefix, exposure, plan.overhead_frames))
        finally:
            set_time_scale(prefix, SCAN_TIME_SCALE)
            shutil_rmtree(Path(ioc.data_root) / "ioc-only")
        self.figures.update(chain_overhead_ioc_ms=a.median, chain_overhead_ioc_ms_default=b.median,
                            chain_added_ms=a.median - b.median)
        self.add(2, Row("overhead per frame, ROI -> Proc -> Stats + TIFF chain, IOC alone (ms)", fmt(a.median),
                        fmt(b.median), fmt(r.median, 2), "<= 4 ms", a.median <= 4))
        self.add(2, Row("  added by the chain over TIFF1 + Stats1 on the camera (ms)", fmt(a.median - b.median, 2),
                        "", "", "(info)"))
        # The plugins' own work, in this process (no CA, no driver): CPU per frame, whatever the load.
        frames = max(10, 5 * plan.overhead_frames)
        cpu = alternate(2, lambda: plugin_chain.cpu_ms(True, frames)[1], lambda: plugin_chain.cpu_ms(False, frames)[1])
        self.figures.update(chain_plugins_cpu_ms=cpu[0].median, chain_plugins_cpu_ms_default=cpu[1].median)
        self.add(2, Row("  plugins' CPU per frame in process, chain vs TIFF1 + Stats1 (ms)", fmt(cpu[0].median, 2),
                        fmt(cpu[1].median, 2), fmt(cpu[2].median, 2), "(info)"))
        self.notes.append(f"chain: Acquire put-callback at time scale 1, {exposure:g} s exposure, "
                          f"{plan.overhead_frames} frames a repeat, {2 * plan.overhead_repeats} alternated repeats: "
                          f"chain {', '.join(fmt(v) for v in a.values)} ms, default "
                          f"{', '.join(fmt(v) for v in b.values)} ms above the exposure")

    def long_run(self, devices: dict) -> str:
        """Record the long run (the fill rows read it back); through the IOC, its scan rate is a scaling figure."""
        plan = self.plan
        if not plan.long_run_by_ioc:
            result = self.scanner.baseline(MAIN_SHAPE, plan.long_frames, self.workdir / "baseline-long")
            self.notes.append(f"the {plan.long_frames}-frame run was recorded by the in-process baseline camera "
                              "(same documents, handler and TIFF files; the full run records it through the IOC)")
            return result.uid
        result = self.scanner.ours(devices, plan.long_frames)
        self.figures[f"scan_ms_per_frame_{plan.long_frames}"] = 1000 / result.fps
        return result.uid

    def fill(self, uid: str, short_uid: str) -> None:
        """Lazy fill rate and memory of the long run; fill rate of a short one."""
        plan, db = self.plan, self.scanner.db
        files = fill.run_files(db, uid)
        # Warm-up pass on both sides: the files in the page cache, imports and the handler registry done.
        fill.fill_fps(db, uid)
        fill.tifffile_fps(files)
        a, b, r = alternate(plan.fill_repeats, lambda: fill.fill_fps(db, uid), lambda: fill.tifffile_fps(files))
        self.figures.update(fill_fps=a.median, fill_fps_tifffile=b.median, fill_ratio=r.median)
        self.figures[f"fill_ms_per_frame_{plan.long_frames}"] = 1000 / a.median
        self.add(4, Row(f"lazy fill, h.data('dot_img'), {len(files)} frames (frames/s)", fmt(a.median),
                        fmt(b.median), fmt(r.median, 2), ">= 0.9", r.median >= 0.9))
        self.notes.append(f"fill: after a warm-up pass of each, {plan.fill_repeats} alternated repeats over the same "
                          f"{len(files)} files: ratios {', '.join(fmt(v, 2) for v in r.values)} "
                          f"(p95 {fmt(r.p95, 2)})")
        frame_bytes = int(np.prod(MAIN_SHAPE)) * 4
        n = min(plan.memory_frames or len(files), len(files))
        peak = fill.fill_peak_frames(db, uid, frame_bytes, limit=n)
        one = fill.tifffile_peak_frames(files[:n], frame_bytes)
        # RSS in a fresh process each: this one has grown already and reuses what it freed.
        rss = fill.fresh_rss_frames("ours", frame_bytes, n, self.workdir, db=db, uid=uid)
        rss_one = fill.fresh_rss_frames("tifffile", frame_bytes, n, self.workdir, files=files)
        self.figures.update(fill_peak_frames=peak, fill_peak_frames_tifffile=one, fill_rss_frames=rss,
                            fill_rss_frames_tifffile=rss_one, fill_memory_frames=float(n))
        self.add(4, Row(f"memory iterating it, tracemalloc peak growth over {n} frames (frames)",
                        fmt(peak, 2), fmt(one, 2), fmt(peak / one if one else math.nan, 2), "<= 2 frames",
                        peak <= 2.0))
        self.add(4, Row(f"memory iterating it, RSS growth over {n} frames (frames)",
                        fmt(rss, 2), fmt(rss_one, 2), fmt(rss / rss_one if rss_one else math.nan, 2), "<= 3 frames",
                        rss <= 3.0))
        self.notes.append("memory: the same loop on both sides (for img in frames: img.ndim), tracemalloc first, "
                          "then RSS (psutil, sampled after each frame) in a fresh process of each side's own (bench.rss)")
        short = Samples()
        for _ in range(plan.fill_repeats):
            short.add(fill.fill_fps(db, short_uid))
        self.figures[f"fill_ms_per_frame_{plan.scan_frames}"] = 1000 / short.median

    def ca(self, prefix: str, ioc) -> None:
        """Live image over CA: get and monitor, ours vs the pythonSoftIOC reference."""
        plan = self.plan
        count = MAIN_SHAPE[0] * MAIN_SHAPE[1]
        ref = SoftIOC(C_DEVICE, self.ports[1], MAIN_SHAPE, self.workdir / "softioc.log").start()
        self.servers.append(ref)
        ours_srv, ref_srv = ca.OursServer(prefix), ca.ReferenceServer(C_DEVICE)
        ours_srv.prepare()
        try:
            a, b, r = alternate(plan.ca_repeats, lambda: ca.get_mbps(ours_srv.pvname, count, plan.ca_seconds),
                                lambda: ca.get_mbps(ref_srv.pvname, count, plan.ca_seconds))
            self.figures.update(ca_get_mbps=a.median, ca_get_mbps_c=b.median, ca_get_ratio=r.median)
            self.add(3, Row("live image over CA, get, 480x640 int32 (MB/s)", fmt(a.median), fmt(b.median),
                            fmt(r.median, 2), ">= 0.9", r.median >= 0.9))
            mon_ours = ca.ArrayMonitor(ours_srv.pvname, count)
            mon_ref = ca.ArrayMonitor(ref_srv.pvname, count)
            results: dict[str, list] = {"ours": [], "ref": []}

            def ours() -> float:
                res = mon_ours.measure(ours_srv.start, ours_srv.stop, ours_srv.posts, plan.ca_seconds)
                results["ours"].append(res)
                return res.mbps

            def reference() -> float:
                res = mon_ref.measure(ref_srv.start, ref_srv.stop, ref_srv.posts, plan.ca_seconds)
                results["ref"].append(res)
                return res.mbps

            a, b, r = alternate(plan.ca_repeats, ours, reference)
            self.figures.update(ca_monitor_mbps=a.median, ca_monitor_mbps_c=b.median, ca_monitor_ratio=r.median)
            self.add(3, Row("live image over CA, monitor, 480x640 int32 (MB/s)", fmt(a.median), fmt(b.median),
                            fmt(r.median, 2), ">= 0.8", r.median >= 0.8))
            for side, label in (("ours", "IOC"), ("ref", "C IOC")):
                posts = statistics.median(x.posts_per_s for x in results[side])
                got = statistics.median(x.updates_per_s for x in results[side])
                short = sum(x.short for x in results[side])
                self.figures[f"ca_monitor_posts_per_s{'' if side == 'ours' else '_c'}"] = posts
                self.figures[f"ca_monitor_updates_per_s{'' if side == 'ours' else '_c'}"] = got
                self.notes.append(f"CA monitor, {label}: server posted {fmt(posts)} arrays/s, client received "
                                  f"{fmt(got)} full arrays/s ({short} short updates)")
            mon_ours.close()
            mon_ref.close()
            alive = ca.server_accepts_new_clients(f"{prefix}dot:cam1:Acquire_RBV")
            self.figures["ca_ioc_accepts_clients_after_monitor"] = float(alive)
            if not alive:
                self.notes.append("after the monitor client disconnected, the IOC no longer accepted new clients")
        finally:
            ours_srv.restore()
        self.c_server = ref  # caproto_alone() compares with it too, then stops it
        self.notes.append("CA: image1:MinCallbackTime set to 0 for the monitor row (ours posts every frame; "
                          "TIFF1 and Stats1 disabled so frames go to image1 only); the C IOC posts from a thread")

    def caproto_alone(self) -> None:
        """Our CA server alone (ready-made array, no camera) vs the C server, side by side: get, and
        monitor at matched posting rates (``ca.RATES``) and flat out (past saturation)."""
        plan = self.plan
        count = MAIN_SHAPE[0] * MAIN_SHAPE[1]
        ref = CaprotoReference(CAPROTO_DEVICE, self.ports[2], MAIN_SHAPE, self.workdir / "caproto-reference.log").start()
        self.servers.append(ref)
        try:
            get = Samples()
            for _ in range(plan.ca_repeats):
                get.add(ca.get_mbps(f"{CAPROTO_DEVICE}:ArrayData", count, plan.ca_seconds))
            pairs = ca.matched_rates(CAPROTO_DEVICE, C_DEVICE, count, plan.ca_seconds, plan.ca_repeats)
            alive = ca.server_accepts_new_clients(f"{CAPROTO_DEVICE}:ArrayData")
            connect = alternate(max(plan.ca_repeats, 4), lambda: ca.connect_seconds(_channels(CAPROTO_DEVICE)),
                                lambda: ca.connect_seconds(_channels(C_DEVICE)))
        finally:
            self.stop(ref)
            self.stop(self.c_server)
        c_get = self.figures["ca_get_mbps_c"]
        self.figures.update(ca_get_mbps_caproto=get.median, ca_caproto_accepts_clients_after_monitor=float(alive))
        self.add(3, Row("  our server alone, ready-made array, get (MB/s)", fmt(get.median), fmt(c_get),
                        fmt(get.median / c_get, 2), "(info)"))
        for pair in pairs:
            if pair.rate > 1:
                key, how, ratio = f"ca_monitor_ratio_{pair.rate}", f"{pair.rate} posts/s", pair.delivered_ratio
                goal, met = ">= 0.95", ratio >= 0.95
                ours, c = pair.fraction(pair.ours), pair.fraction(pair.c)
                self.add(3, Row(f"  our server alone, monitor at {how} (delivered fraction)", fmt(ours, 2),
                                fmt(c, 2), fmt(ratio, 2), goal if pair.rate == 200 else "(info)",
                                met if pair.rate == 200 else None))
            else:
                key, how, ratio = "ca_monitor_overload_ratio", "flat out", pair.rate_ratio
                self.add(3, Row("  our server alone, monitor flat out (arrays/s received)",
                                fmt(pair.ours.updates_per_s), fmt(pair.c.updates_per_s), fmt(ratio, 2), ">= 0.8",
                                ratio >= 0.8))
            self.figures[key] = ratio
            self.notes.append(f"CA monitor, our server alone, {how}: posted {fmt(pair.ours.posts_per_s)}/s, received "
                              f"{fmt(pair.ours.updates_per_s)}/s; C server posted {fmt(pair.c.posts_per_s)}/s, "
                              f"received {fmt(pair.c.updates_per_s)}/s")
        a, b, r = connect
        self.figures.update(ca_connect_ms=1000 * a.median, ca_connect_ms_c=1000 * b.median, ca_connect_ratio=r.median)
        self.add(3, Row(f"  our server alone, {CHANNELS} channels connected at once, fresh pyepics client (ms)",
                        fmt(1000 * a.median, 1), fmt(1000 * b.median, 1), fmt(r.median, 2), "<= 1.5",
                        r.median <= 1.5))
        self.notes.append(f"our server alone: new clients accepted after the monitor client disconnected: "
                          f"{'yes' if alive else 'NO'}")

    def scaling(self, short_uid: str) -> None:
        """Scan and fill rate at other sensor shapes (an IOC each), ours vs baseline."""
        plan = self.plan
        results = {}
        for i, shape in enumerate(plan.scaling_shapes):
            prefix = f"BENCH{i + 2}:"
            ioc = self.ioc(prefix, self.ports[3 + i], shape)
            try:
                devices = connect_devices(prefix, ioc.data_root)
                self.discard(self.scanner.ours(devices, 3).uid)
                pair = self.scan_pair(devices, shape, plan.scaling_frames, plan.scaling_repeats, _shape_key(shape))
                a, b, _ = pair["run"]
                uid = pair["uid"]
                if shape == plan.flat_shape and plan.flat_frames:
                    self.flat(devices, shape, pair["events"][0].median, uid, plan.scaling_frames)
                for device in devices.values():
                    device.destroy()
            finally:
                self.stop(ioc)
            files = fill.run_files(self.scanner.db, uid)
            fa, fb, fr = alternate(plan.scaling_repeats, lambda u=uid: fill.fill_fps(self.scanner.db, u),
                                   lambda f=files: fill.tifffile_fps(f))
            results[shape] = (a.median, b.median, fa.median, fb.median, plan.scaling_frames)
        db = self.scanner.db
        files = fill.run_files(db, short_uid)
        fa, fb, _ = alternate(plan.scaling_repeats, lambda: fill.fill_fps(db, short_uid),
                              lambda: fill.tifffile_fps(files))
        results[MAIN_SHAPE] = (self.figures["scan_fps"], self.figures["scan_fps_baseline"], fa.median, fb.median,
                               plan.scan_frames)
        for shape in sorted(results):
            scan_fps, scan_base, fill_fps, fill_base, frames = results[shape]
            key = _shape_key(shape)
            self.figures.update({f"scan_fps_{key}": scan_fps, f"scan_fps_baseline_{key}": scan_base,
                                 f"fill_fps_{key}": fill_fps, f"fill_fps_tifffile_{key}": fill_base})
            self.add(5, Row(f"  scan rate at {key}, {frames} frames, whole run (frames/s)", fmt(scan_fps), fmt(scan_base),
                            fmt(scan_fps / scan_base, 2), "(scaling)"))
            self.add(5, Row(f"  fill rate at {key}, {frames} frames (frames/s)", fmt(fill_fps),
                            fmt(fill_base), fmt(fill_fps / fill_base, 2), "(scaling)"))

    def flat(self, devices: dict, shape: tuple[int, int], short_fps: float, short_uid: str, n: int) -> None:
        """Scan and fill cost per frame of a ``plan.flat_frames`` run against a short one, at ``shape``.

        A small shape keeps the long run's files to a few GB; what could grow with the run's
        length (documents, the broker's caches, the IOC's bookkeeping) does not depend on it.
        """
        plan, db = self.plan, self.scanner.db
        long = self.scanner.ours(devices, plan.flat_frames)
        try:
            short_fill, long_fill = Samples(), Samples()
            fill.fill_fps(db, long.uid)  # warm-up
            for _ in range(plan.fill_repeats):
                short_fill.add(fill.fill_fps(db, short_uid))
                long_fill.add(fill.fill_fps(db, long.uid))
        finally:
            self.discard(long.uid)
        key, m = _shape_key(shape), plan.flat_frames
        for what, short_ms, long_ms in (("scan", 1000 / short_fps, 1000 / long.fps),
                                        ("fill", 1000 / short_fill.median, 1000 / long_fill.median)):
            growth = long_ms / short_ms
            self.figures.update({f"{what}_ms_per_frame_{key}_{n}": short_ms, f"{what}_ms_per_frame_{key}_{m}": long_ms,
                                 f"{what}_cost_growth_{m}_vs_{n}": growth})
            self.add(5, Row(f"{what} cost per frame at {key}, {m} vs {n} frames (ms)", fmt(long_ms, 3),
                            fmt(short_ms, 3), fmt(growth, 2), "flat (ratio ~1)", growth <= 1.15))

    def per_frame_rows(self) -> None:
        """Cost per frame at the short and long run lengths (flat is the goal)."""
        plan = self.plan
        for what in ("scan", "fill") if plan.long_run_by_ioc else ("fill",):
            short = self.figures[f"{what}_ms_per_frame_{plan.scan_frames}"]
            long = self.figures[f"{what}_ms_per_frame_{plan.long_frames}"]
            growth = long / short
            self.figures[f"{what}_cost_growth_{plan.long_frames}_vs_{plan.scan_frames}"] = growth
            self.add(5, Row(f"{what} cost per frame, {plan.long_frames} vs {plan.scan_frames} frames (ms)",
                            fmt(long, 2), fmt(short, 2), fmt(growth, 2), "flat (ratio ~1)",
                            growth <= 1.15))

    def server_notes(self) -> None:
        logs = sorted(self.workdir.glob("ioc-*.log")) + [self.workdir / "softioc.log",
                                                          self.workdir / "caproto-reference.log"]
        for log in logs:
            errors = server_errors(log)
            if errors:
                self.notes.append(f"{log.name}: {len(errors)} error lines, first: {errors[0].strip()[:200]}")


def epics_version() -> str:
    import epics

    return epics.__version__


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _quiet_libca(log_path: Path) -> str:
    """Send libca's messages (e.g. "Virtual circuit disconnect" when a server is stopped) to a log file."""
    # ophyd before the first CA call: it points pyepics at epicscorelibs' libca, the one p4p and ophyd-async load
    # too. Loaded first, pyepics' bundled libca and libCom would share the process with
    # epicscorelibs' (libCom's mutexes then abort: invalidMutex, tpp.c assertions).
    import epics
    import ophyd  # noqa: F401

    log = open(log_path, "a", buffering=1)  # noqa: SIM115 (open for the life of the process)
    epics.ca.replace_printf_handler(lambda *args: log.write(" ".join(str(a) for a in args)))
    return epics.ca.libca._name


def run(plan, mode: str, ports: list[int], workdir: Path,
        profile_dir: Path | None = None) -> tuple[list[Row], dict[str, float], list[str]]:
    """Run every measurement of ``plan``; returns the table rows, the JSON figures and notes.

    With ``profile_dir``, py-spy profiles of one scan (client and IOC) are written there.
    """
    libca = _quiet_libca(workdir / "libca.log")
    bench = Bench(plan, mode, ports, workdir, profile_dir)
    load = os.getloadavg()
    bench.notes.append(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} at the start; "
                       f"CA client pyepics {epics_version()} with {libca}")
    prefix = "BENCH1:"
    try:
        with bench.section("physics"):
            bench.physics()
        with bench.section("start"):
            ioc = bench.ioc(prefix, ports[0])
            devices = connect_devices(prefix, ioc.data_root)
        with bench.section("scan"):
            short_uid = bench.scan(devices, ioc)
        with bench.section("live plots"):
            bench.live_plots(devices)
        with bench.section("viewers"):
            bench.viewers(devices, prefix, ioc)
        with bench.section("overhead"):
            bench.overhead(devices, prefix, ioc)
        with bench.section("plugin chain"):
            bench.plugin_chain(prefix, ioc)
        with bench.section("long run"):
            long_uid = bench.long_run(devices)
            if plan.flat_frames and plan.flat_shape == MAIN_SHAPE:
                bench.flat(devices, MAIN_SHAPE, bench.figures["scan_event_fps"], short_uid, plan.scan_frames)
        with bench.section("CA"):
            bench.ca(prefix, ioc)
            bench.caproto_alone()
        with bench.section("scaling"):
            bench.scaling(short_uid)
        with bench.section("fill"):
            bench.fill(long_uid, short_uid)
        bench.per_frame_rows()
    finally:
        bench.stop_all()
        bench.server_notes()
        bench.notes.append("time taken: " + ", ".join(f"{k} {v:.0f} s" for k, v in bench.durations.items())
                           + f"; load average {os.getloadavg()[0]:.1f} at the end")
    return bench.rows, bench.figures, bench.notes
