"""dodal's ``adsim`` beamline module used as its docstring says, in dodal's own environment
(``.venv-dodal``): build and connect its devices, ``run_engine(count([d], num=10))`` with
``dodal.plans.count``, and a move of its stage. Prints what happened as JSON (tests/test_proofs.py).

It then leaves at once (``os._exit``): aioca's exit handler, which clears every channel,
sometimes never returns (seen here in ``Channel._purge``, libca's ``ca_clear_channel`` under
its callback lock), and the check is done by then.
"""

import json
import os
import sys

from bluesky.plan_stubs import mv
from bluesky.run_engine import RunEngine, call_in_bluesky_event_loop
from dodal.beamlines.adsim import devices
from dodal.plans import count

run_engine = RunEngine()
built = devices.build_and_connect().or_raise()
d = built["det"]
s = built["stage"]
documents = []
run_engine(count([d], num=10), lambda name, doc: documents.append((name, doc)))
run_engine(mv(s.x, 0.5))
json.dump({
    "events": sum(1 for name, _ in documents if name == "event"),
    "uris": [doc["uri"] for name, doc in documents if name == "stream_resource"],
    "stream_datums": sum(1 for name, _ in documents if name == "stream_datum"),
    "exit_status": next(doc["exit_status"] for name, doc in documents if name == "stop"),
    "stage_x": call_in_bluesky_event_loop(s.x.user_readback.get_value()),
}, sys.stdout)
sys.stdout.flush()
os._exit(0)
