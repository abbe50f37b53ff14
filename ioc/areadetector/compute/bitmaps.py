"""ADCore's bitmap data: the overlay fonts and the false-colour maps.

``adcore_bitmaps.json`` beside this module is derived from ADCore's
NDPluginOverlayTextFont.cpp and colorMaps.h by ``tests/derive_adcore_bitmaps.py`` (the
commit it read is in the file).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def adcore_bitmaps() -> dict:
    """The derived table: ``fonts`` (width, height, hex rows of glyphs 32..127) and ``color_maps``."""
    return json.loads(Path(__file__).with_name("adcore_bitmaps.json").read_text())
