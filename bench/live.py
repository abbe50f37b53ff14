"""Live feedback's cost: ``count([dot, I], num=N)`` with the session's ``bec``, plots on and off.

Matplotlib's Agg backend (a terminal without a display; a notebook's inline backend draws the
same way). Each run subscribes a BestEffortCallback (its table printed into a buffer, as a
terminal would take it) beside the databroker: the session's ``LiveFeedback`` with plots
turned on (``bec.enable_plots()``) against the same with plots off, alternated; and, once, the
stock ``BestEffortCallback`` with plots on, which renders its figure on every Event. Each run
makes its figure afresh, as a session's first count does.

    python -m bench.live [--frames 150] [--repeats 4] [--stock-frames 150]

runs these rows alone (an IOC of its own on a free port) and prints them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys

from .report import Row, fmt

FIGURE_NOTE = ("live plots: count([dot, I]) with a BestEffortCallback subscribed (its table into a buffer), "
               "Agg backend; plots off is the session's default there")


def count_seconds(scanner, devices: dict, num: int, bec) -> tuple[float, str]:
    """Seconds of ``RE(count([dot, I], num))`` with ``bec`` subscribed; and the run's uid."""
    token = scanner.RE.subscribe(bec)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            result = scanner.ours(devices, num)
    finally:
        scanner.RE.unsubscribe(token)
    return result.seconds, result.uid


def measure(scanner, devices: dict, frames: int, repeats: int, stock_frames: int,
            discard=lambda uid: None) -> tuple[list[Row], dict[str, float], list[str]]:
    """The live-plot rows, figures and notes (see the module's doc); ``discard(uid)`` drops a run's files."""
    import matplotlib.pyplot as plt
    from bluesky.callbacks.best_effort import BestEffortCallback

    from beamline.live import LiveFeedback, figures_shown

    from .timing import alternate

    if figures_shown():
        raise RuntimeError(f"matplotlib's backend is {plt.get_backend()}: these rows need Agg (MPLBACKEND=Agg)")
    on, off = LiveFeedback(), LiveFeedback()
    off.disable_plots()

    def run(bec, num: int) -> float:
        plt.close("all")  # each run makes its figure, as a session's first count does (BEC overplots otherwise)
        seconds, uid = count_seconds(scanner, devices, num, bec)
        discard(uid)
        return seconds

    run(on, min(frames, 10))  # warm-up: imports, the first figure
    a, b, r = alternate(repeats, lambda: run(on, frames), lambda: run(off, frames))
    stock_on = run(BestEffortCallback(), stock_frames)
    stock_off = b.median if stock_frames == frames else run(off, stock_frames)
    plt.close("all")
    figures = {"live_plots_seconds_on": a.median, "live_plots_seconds_off": b.median, "live_plots_ratio": r.median,
               "live_plots_stock_seconds_on": stock_on, "live_plots_stock_seconds_off": stock_off,
               "live_plots_stock_ratio": stock_on / stock_off}
    rows = [Row(f"live plots on vs off, count([dot, I], num={frames}), whole run, Agg (s)", fmt(a.median, 2),
                fmt(b.median, 2), fmt(r.median, 2), "<= 1.2", r.median <= 1.2),
            Row(f"  stock BestEffortCallback's plots on vs off, num={stock_frames} (s)", fmt(stock_on, 2),
                fmt(stock_off, 2), fmt(stock_on / stock_off, 2), "(info: before)")]
    notes = [f"{FIGURE_NOTE}; {repeats} alternated repeats, ratios {', '.join(fmt(v, 2) for v in r.values)}; "
             "the stock BestEffortCallback's once"]
    return rows, figures, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--stock-frames", type=int, default=150)
    args = parser.parse_args(argv)

    from . import env

    port, = env.configure(1)
    from . import fill
    from .report import print_table
    from .scan import ioc_of_its_own

    with ioc_of_its_own("BENCHL:", port, "live") as (_, devices, scanner):
        rows, _, notes = measure(scanner, devices, args.frames, args.repeats, args.stock_frames,
                                 lambda uid: fill.remove_files(fill.run_files(scanner.db, uid)))
    print_table(rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
