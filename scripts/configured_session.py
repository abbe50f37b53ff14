"""A session built from a configuration file, on any host that reaches its IOCs.

    python scripts/configured_session.py FILE

Connects every device the file declares (``make_session(config=FILE)``: the names it gives),
counts each areaDetector camera once together with the ring current(s), moves each motor a
little and back, and prints one JSON line (``devices``, ``frames`` per camera, ``moved``,
``ok``); exits 1 if a check fails.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp

    from beamline.session import make_session

    session = make_session(live=False, config=argv[0])
    config = session["beamline_config"]
    RE, db = session["RE"], session["db"]
    rings = [session[ioc.ring.name] for ioc in config.iocs if ioc.ring is not None]
    frames, moved = {}, {}
    for ioc in config.iocs:
        for camera in ioc.cameras:
            if camera.layout == "areadetector":
                (uid,) = RE(bp.count([session[camera.name], *rings], 1))
                frames[camera.name] = len(db[uid].table())
        for motor in ioc.motors:
            device = session[motor.name]
            start = device.position
            RE(bps.mv(device, start + 0.1))
            moved[motor.name] = round(device.position - start, 6)
            RE(bps.mv(device, start))
    names = sorted(name for name in session if name not in ("RE", "db", "bec", "tiled", "beamline_config"))
    ok = all(n == 1 for n in frames.values()) and all(abs(d - 0.1) < 1e-3 for d in moved.values())
    print(json.dumps({"devices": names, "frames": frames, "moved": moved, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
