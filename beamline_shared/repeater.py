"""A CA repeater on loopback for one client process: ``python -m beamline_shared.repeater PARENT_PID``.

libca registers with a repeater on ``EPICS_CA_REPEATER_PORT`` when a client starts and, if
none answers, prints "unable to contact CA repeater after 50 tries" about 50 s later (and
tries to spawn ``caRepeater`` from PATH, which binds every interface). A client given a
port of its own (:func:`beamline_shared.launcher.start_repeater`) runs this one instead:
caproto's repeater bound to 127.0.0.1, which exits when its parent process does.
"""

from __future__ import annotations

import os
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parent = int(argv[0])
    from caproto.sync.repeater import run

    # The port comes from EPICS_CA_REPEATER_PORT, as for any repeater.
    threading.Thread(target=run, kwargs={"host": "127.0.0.1"}, daemon=True).start()
    while os.getppid() == parent:
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
