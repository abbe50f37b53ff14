"""The reliability soak: the drills of ``tests/reliability/`` in a loop, for as long as asked.

On an IOC of its own (loopback, a free port): every cycle counts under load (many monitor
clients, some slow, one frozen, churn); every few cycles the IOC is killed mid-count and
restarted. It prints one line per cycle (IOC memory, frame rates, monitor rates, time to fail
a run after a kill, time to reconnect, events lost) and a summary; the exit status is 1 if
anything failed::

    python -m tools.soak --minutes 30
    python -m tools.soak --minutes 5 --clients 20 --time-scale 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.drills import (
    CURRENT_RATE,
    LoadDrill,
    all_connected,
    check_run_images,
    counted_run,
    ioc_circuits,
    ioc_rss_mb,
    kill_mid_count,
    log_problems,
    log_size,
    restart,
    wait_for,
)


def load_phase(ns: dict, ioc, n_clients: int, min_callback: float, rss_base: float) -> tuple[list[str], str]:
    """A count of 100 under load (``n_clients`` monitors, a frozen client, churn); problems and a report."""
    problems: list[str] = []
    ns["dot"].image.min_callback_time.set(min_callback).wait(10)
    drill = LoadDrill(ioc, n_clients)
    t0 = time.monotonic()
    try:
        run = counted_run(ns, 100)
    except Exception as exc:
        run = {"rate": 0.0, "uid": None}
        problems.append(f"count under load failed: {exc!r}")
    rates = drill.rates(t0, time.monotonic())
    rss_load = ioc_rss_mb(ioc)
    if drill.churn and drill.churn.errors:
        problems.append(f"churn: {drill.churn.errors[:3]}")
    drill.close()
    if not wait_for(lambda: ioc_circuits(ioc) <= 2, 15):
        problems.append(f"the IOC still has {ioc_circuits(ioc)} circuits after the clients left")
    rss_after = ioc_rss_mb(ioc)
    if rss_after - rss_base > 100:
        problems.append(f"IOC RSS grew {rss_after - rss_base:.0f} MB")
    if rates["fast_cur"] < 0.7 * CURRENT_RATE:
        problems.append(f"fast clients got ring:current at {rates['fast_cur']:.1f} Hz")
    report = (f"MinCallbackTime {min_callback:g}: {run['rate']:.1f} events/s under load; fast clients image "
              f"{rates['fast_arr']:.1f}/s current {rates['fast_cur']:.1f}/s, slow clients image "
              f"{rates['slow_arr']:.1f}/s current {rates['slow_cur']:.1f}/s; IOC RSS {rss_load:.0f} MB under load, "
              f"{rss_after:.0f} MB after ({rss_after - rss_base:+.0f} MB since this IOC started)")
    return problems, report


def kill_phase(ns: dict, ioc):
    """Kill the IOC mid-count, restart it, wait for the session to reconnect and count again.
    Returns the new IOC, the problems and a report."""
    problems: list[str] = []
    kill = kill_mid_count(ns, ioc)
    header = kill["header"]
    lost = kill["events_emitted"] - header.stop["num_events"].get("primary", 0)
    if header.stop["exit_status"] != "fail" or kill["error"] is None:
        problems.append(f"run after the kill: {header.stop['exit_status']}")
    try:
        readable = check_run_images(header)
        if readable != kill["events_emitted"]:
            problems.append(f"{kill['events_emitted'] - readable} events unreadable")
    except Exception as exc:
        problems.append(f"images of the killed run: {exc!r}")
    t_restart = time.monotonic()
    ioc = restart(ioc)
    restarted = time.monotonic() - t_restart
    if wait_for(lambda: all_connected(ns), 60):
        reconnect = time.monotonic() - kill["killed_at"]
        try:
            counted_run(ns, 3)
        except Exception as exc:
            problems.append(f"count after restart failed: {exc!r}")
    else:
        reconnect = float("nan")
        problems.append("session did not reconnect within 60 s")
    report = (f"IOC killed mid-count: run failed in {kill['seconds_to_fail'] or float('nan'):.2f} s, "
              f"{kill['events_emitted']} events kept, {lost} lost; IOC restarted in {restarted:.1f} s, "
              f"session reconnected {reconnect:.1f} s after the kill")
    return ioc, problems, report


def soak(minutes: float, n_clients: int, time_scale: float, kill_every: int = 3, prefix: str = "SOAK:") -> int:
    """Soak cycles on an IOC of its own for ``minutes``: 0 if nothing failed, else 1.

    Every cycle counts under load (MinCallbackTime 0.1 s, and 0 every other cycle); every
    ``kill_every``-th cycle then kills the IOC mid-count and restarts it. Between kills the
    same IOC process serves every cycle, so its memory is watched across cycles.
    """
    from beamline_shared.launcher import IOCProcess, ca_environment, free_port

    port = free_port()
    os.environ.update(ca_environment(port))  # before any CA client library reads it
    os.environ["BEAMLINE_LIVE"] = "0"
    top = Path(tempfile.mkdtemp(prefix="beamline-soak-"))
    os.environ["BEAMLINE_DATABROKER_DIR"] = str(top / "databroker")
    from beamline.session import make_session

    ioc = IOCProcess(prefix=prefix, data_root=top / "data", port=port, time_scale=time_scale, seed=1,
                     log_path=top / "ioc.log").start()
    print(f"soak: {minutes:g} min, IOC {prefix} pid {ioc.pid} port {port}, {n_clients} clients, "
          f"time scale {time_scale:g}, a kill every {kill_every} cycles; files in {top}", flush=True)
    failures: list[str] = []
    cycle = 0
    try:
        ns = make_session(prefix, live=False, timeout=10)
        ns["dot"].exp.put(0.005)
        alone = counted_run(ns, 100)
        rss_base = ioc_rss_mb(ioc)
        print(f"no clients: {alone['rate']:.1f} events/s, IOC RSS {rss_base:.0f} MB", flush=True)
        deadline = time.monotonic() + 60 * minutes
        while time.monotonic() < deadline:
            cycle += 1
            since = log_size(ioc)
            problems, report = load_phase(ns, ioc, n_clients, 0.0 if cycle % 2 == 0 else 0.1, rss_base)
            if cycle % kill_every == 0:
                ioc, more, kill_report = kill_phase(ns, ioc)
                problems += more
                report += "; " + kill_report
                rss_base = ioc_rss_mb(ioc)
            problems += [f"IOC log: {line}" for line in log_problems(ioc, since)[:3]]
            failures += [f"cycle {cycle}: {p}" for p in problems]
            print(f"cycle {cycle} ({(time.monotonic() - deadline) / 60 + minutes:.1f} min): {report}; "
                  + ("OK" if not problems else "FAILED: " + "; ".join(problems)), flush=True)
    finally:
        ioc.stop()
    print(f"soak: {cycle} cycles, {len(failures)} failure(s)" + "".join(f"\n  {f}" for f in failures), flush=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    parser.add_argument("--clients", type=int, default=20, help="monitor clients during each scan (default 20)")
    parser.add_argument("--time-scale", type=float, default=1000.0, help="the IOC's time scale (default 1000)")
    parser.add_argument("--kill-every", type=int, default=3, help="kill and restart the IOC every N cycles (default 3)")
    args = parser.parse_args(argv)
    return soak(args.minutes, args.clients, args.time_scale, args.kill_every)


if __name__ == "__main__":
    sys.exit(main())
