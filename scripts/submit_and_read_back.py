"""One user of the queue: log in to the HTTP server, submit plans, read the runs back from tiled.

    python scripts/submit_and_read_back.py --http URI --user NAME --password PW --tiled URI [--num 3]

Logs in (bluesky-httpserver's password provider ``local``), makes an API key and uses it, as a
user would; submits ``count([dot, I], num)`` and a 3-point scan of ``mtr_dotx``, starts the
queue, waits until both have run; then reads each run back from tiled (``--tiled``, key from
``BEAMLINE_TILED_API_KEY``): the start document's ``user``, every frame's shape, and its pixel
sum against the ``Stats1`` total the IOC computed from the same frame. Prints one JSON line
(``user``, ``uids``, ``frames``, ``ok``, ``problems``); exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", required=True, help="the queue's HTTP server, http://host:port")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--tiled", required=True, help="the tiled server, http://host:port/api/v1")
    parser.add_argument("--num", type=int, default=3, help="frames in the count (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)

    from bluesky_queueserver_api import BPlan
    from bluesky_queueserver_api.comm_base import RequestFailedError
    from bluesky_queueserver_api.http import REManagerAPI
    from tiled.client import from_uri

    login = REManagerAPI(http_server_uri=args.http, http_auth_provider="local/token", timeout=30)
    login.login(args.user, password=args.password)
    key = login.apikey_new(expires_in=3600)["secret"]
    login.close()
    rm = REManagerAPI(http_server_uri=args.http, timeout=30)
    rm.set_authorization_key(api_key=key)
    items = [rm.item_add(BPlan("count", ["dot", "I"], num=args.num))["item"]["item_uid"],
             rm.item_add(BPlan("scan", ["dot", "I"], "mtr_dotx", -1, 1, 3))["item"]["item_uid"]]
    deadline = time.monotonic() + args.timeout
    while True:
        if rm.status(reload=True)["manager_state"] == "idle" and rm.status()["items_in_queue"]:
            try:
                rm.queue_start()
            except RequestFailedError:
                pass  # another user started it meanwhile
        done = {item["item_uid"]: item for item in rm.history_get()["items"]}
        if all(uid in done for uid in items):
            break
        if time.monotonic() > deadline:
            print(f"the queue did not run {items} within {args.timeout} s", file=sys.stderr)
            return 2
        time.sleep(0.5)

    tiled = from_uri(args.tiled, api_key=os.environ.get("BEAMLINE_TILED_API_KEY"))
    problems, frames, uids = [], 0, []
    for uid in items:
        result = done[uid]["result"]
        if result["exit_status"] != "completed":
            problems.append(f"{uid}: {result['exit_status']}: {result['msg']}")
        for run_uid in result["run_uids"]:
            uids.append(run_uid)
            run = tiled[run_uid]
            if run.metadata["start"].get("user") != args.user:
                problems.append(f"{run_uid}: start document user {run.metadata['start'].get('user')!r}")
            images, totals = run["primary"]["dot_img"], run["primary"]["dot_stats1_total"].read()
            for i in range(images.shape[0]):
                frame = images[i]
                frames += 1
                if frame.shape != (480, 640) or float(frame.sum(dtype=np.float64)) != float(totals[i]):
                    problems.append(f"{run_uid} frame {i}: shape {frame.shape}, sum {frame.sum()} != {totals[i]}")
    print(json.dumps({"user": args.user, "uids": uids, "frames": frames, "ok": not problems, "problems": problems}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
