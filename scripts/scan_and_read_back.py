"""One user's session: scan with the beamline, then read the runs back from tiled and check them.

    python scripts/scan_and_read_back.py [--prefix BL:] [--num 5] [--async]

Connects as ``beamline.session.make_session`` does (``--async``: the ophyd-async session),
with the tiled server from ``BEAMLINE_TILED_URI``/``BEAMLINE_TILED_API_KEY`` (or the data
root's ``tiled.json``); runs ``count([dot, I], num)`` and a 3-point scan of ``mtr_dotx``;
then reads each run back from tiled, as a user on any host would: every frame's shape, and
its pixel sum against the ``Stats1`` total the IOC computed from the same frame. Prints
one JSON line (``uids``, ``frames``, ``user``, ``ok``); exits 1 if a check fails.

Two users of one camera take turns, as at a beamline: ``--after FILE`` waits (connected)
until FILE exists before scanning, and ``--done FILE`` creates FILE once this session's
scans are over (and before it reads them back).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=os.environ.get("BEAMLINE_PREFIX", "BL:"))
    parser.add_argument("--num", type=int, default=5, help="frames in the count (default %(default)s)")
    parser.add_argument("--async", dest="use_async", action="store_true", help="the ophyd-async session")
    parser.add_argument("--user", default=f"{os.environ.get('USER', 'user')}@{socket.gethostname()}",
                        help="recorded in each run's start document (default %(default)s)")
    parser.add_argument("--after", type=Path, help="scan only once this file exists (another user's --done)")
    parser.add_argument("--done", type=Path, help="create this file when the scans are over")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for --after")
    args = parser.parse_args(argv)

    import bluesky.plan_stubs as bps
    import bluesky.plans as bp

    if args.use_async:
        from beamline.async_devices import make_async_session

        session = make_async_session(args.prefix, live=False)
        exposure, image_key, total_key = session["dot"].driver.acquire_time, "dot", "dot-stats-total"
    else:
        from beamline.session import make_session

        session = make_session(args.prefix, live=False)
        exposure, image_key, total_key = session["dot"].exp, "dot_img", "dot_stats1_total"
    RE, tiled, dot = session["RE"], session["tiled"], session["dot"]
    if tiled is None:
        print("no tiled server configured (BEAMLINE_TILED_URI)", file=sys.stderr)
        return 2
    RE.md["user"] = args.user
    deadline = time.monotonic() + args.timeout
    while args.after is not None and not args.after.exists():
        if time.monotonic() > deadline:
            print(f"{args.after} did not appear within {args.timeout} s", file=sys.stderr)
            return 2
        time.sleep(0.1)
    try:
        RE(bps.mv(exposure, 0.005))
        uids = list(RE(bp.count([dot, session["I"]], num=args.num)))
        uids += RE(bp.scan([dot], session["mtr_dotx"], -1, 1, 3))
    finally:
        if args.done is not None:
            args.done.touch()

    problems, frames = [], 0
    for uid in uids:
        run = tiled[uid]
        if run.metadata["start"].get("user") != args.user:
            problems.append(f"{uid}: start document user {run.metadata['start'].get('user')!r}")
        images, totals = run["primary"][image_key], run["primary"][total_key].read()
        for i in range(images.shape[0]):
            frame = images[i]  # read by the tiled server from the IOC's file
            frames += 1
            if frame.shape != (480, 640) or float(frame.sum(dtype=np.float64)) != float(totals[i]):
                problems.append(f"{uid} frame {i}: shape {frame.shape}, sum {frame.sum()} != Stats1 {totals[i]}")
    print(json.dumps({"user": args.user, "uids": uids, "frames": frames, "ok": not problems, "problems": problems}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
