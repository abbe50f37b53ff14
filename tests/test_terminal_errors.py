"""An uncaught error in a terminal IPython session shows its message (the cause's, for a failed
set), with how to get the traceback; ``%tb context`` prints it in full."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SESSION = """\
from beamline.session import *
print("-- limit --")
RE(bps.mv(mtr_dotx, np.float64(-1000.0)))
print("-- refused --")
RE(bps.mv(dot.exp, -1))
print("-- tb --")
%tb context
print("-- end --")
"""


def test_a_terminal_session_shows_the_message_and_the_traceback_on_request(ioc, tmp_path):
    ipython = Path(sys.executable).parent / "ipython"
    env = {**os.environ, "BEAMLINE_PREFIX": "BL:", "BEAMLINE_DATABROKER_DIR": str(tmp_path / "db"),
           "BEAMLINE_LIVE": "0"}
    done = subprocess.run([str(ipython), "--simple-prompt", "--no-banner", "--colors=nocolor", "--quick"],
                          input=SESSION, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    out = done.stdout
    assert "-- end --" in out, out + done.stderr
    out = re.sub(r"(?m)^(In \[\d+\]: )+", "", out)  # the prompts
    limit = out.split("-- limit --")[1].split("-- refused --")[0]
    refused = out.split("-- refused --")[1].split("-- tb --")[0]
    traceback = out.split("-- tb --")[1].split("-- end --")[0]
    assert [line for line in limit.splitlines() if line.strip()] == [
        "LimitError: motor_dotx: cannot move to -1000: outside its limits [-100, 100] (BL:mtr:dotx.LLM, .HLM)",
        "(%tb context prints the traceback)"]
    lines = [line for line in refused.splitlines() if line.strip()]
    assert len(lines) == 2, refused
    assert lines[0].startswith("PutRefused: dot_exp: the IOC refused -1 for BL:dot:cam1:AcquireTime: ")
    assert lines[1] == "(raised as FailedStatus; %tb context prints the traceback)"
    # The traceback, in full, on request: the cause's and the RunEngine's.
    assert "PutRefused" in traceback and "FailedStatus" in traceback and "run_engine.py" in traceback
    assert "The above exception was the direct cause of the following exception" in traceback
    assert len(traceback.splitlines()) > 30
