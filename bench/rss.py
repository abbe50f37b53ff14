"""RSS growth of one fill loop in a process of its own: ``python -m bench.rss ours|tifffile ...``.

A process that has already read frames keeps the memory it freed and reuses it, so its
RSS no longer grows: :func:`bench.fill.fresh_rss_frames` runs the loop here, after the
imports and before anything else, and reads back the growth in frames on stdout.

    python -m bench.rss ours BROKER_DIR UID FRAME_BYTES LIMIT
    python -m bench.rss tifffile FILE_LIST FRAME_BYTES LIMIT
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    from . import fill

    kind = argv[0]
    if kind == "ours":
        from beamline.storage import open_broker

        directory, uid, frame_bytes, limit = argv[1], argv[2], int(argv[3]), int(argv[4])
        db = open_broker(directory)
        print(fill.fill_rss_frames(db, uid, frame_bytes, limit=limit))
    elif kind == "tifffile":
        files, frame_bytes, limit = Path(argv[1]).read_text().splitlines(), int(argv[2]), int(argv[3])
        print(fill.tifffile_rss_frames(files[:limit], frame_bytes))
    else:
        raise SystemExit(f"unknown kind {kind!r}: ours or tifffile")


if __name__ == "__main__":
    main(sys.argv[1:])
