"""Derive ioc/areadetector/compute/adcore_bitmaps.json from ADCore's sources.

    python tests/derive_adcore_bitmaps.py /work/.mirror/areaDetector+ADCore/repo

reads, from the git directory of ADCore (its HEAD commit), the bitmaps NDPluginOverlay draws
text with (NDPluginOverlayTextFont.cpp: the misc-fixed 6x13, 6x13 bold, 9x15 and 9x15 bold
fonts, public domain) and the false-colour maps of NDPluginColorConvert (colorMaps.h:
Rainbow and Iron), and writes them as data: per font its width, height and, for the
characters 32 to 127 as NDPluginOverlay indexes them (glyph ``c - 32``), the hex bytes of
each row (``width // 8 + 1`` bytes a row, the leftmost pixel in the top bit); per map its
256 red, green and blue values.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).parent.parent / "ioc" / "areadetector" / "compute" / "adcore_bitmaps.json"
FONTS = {"6x13": "font_6x13", "6x13 Bold": "font_6x13B", "9x15": "font_9x15", "9x15 Bold": "font_9x15B"}
GLYPHS = 96  # characters 32..127: a C char of 128 or more is negative and skipped


def _show(git_dir: Path, path: str) -> str:
    return subprocess.run(["git", "-C", str(git_dir), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _arrays(text: str) -> dict[str, list[str]]:
    """Every ``unsigned char NAME[] = {...};`` of a C source, as its list of tokens."""
    out = {}
    for match in re.finditer(r"unsigned char (\w+)\[\]\s*=\s*\{(.*?)\};", text, re.S):
        body = re.sub(r"//.*", "", match.group(2))
        out[match.group(1)] = [tok.strip() for tok in body.split(",") if tok.strip()]
    return out


def fonts(text: str) -> dict:
    arrays = _arrays(text)
    sizes = {array: (int(w), int(h)) for w, h, array in re.findall(r"=\s*\{\s*(\d+)\s*,\s*(\d+)\s*,\s*(\w+)\s*\}", text)}
    out = {}
    for name, array in FONTS.items():
        width, height = sizes[array]
        row_bytes = width // 8 + 1
        values = [int(tok.replace("_", "0").replace("X", "1"), 2) for tok in arrays[array]]
        assert all(re.fullmatch("[_X]{8}", tok) for tok in arrays[array]), array
        per_glyph = height * row_bytes
        assert len(values) % per_glyph == 0 and len(values) // per_glyph >= GLYPHS, array
        out[name] = {"width": width, "height": height,
                     "glyphs": [bytes(values[g * per_glyph:(g + 1) * per_glyph]).hex() for g in range(GLYPHS)]}
    return out


def color_maps(text: str) -> dict:
    arrays = {name: [int(tok, 16) for tok in toks] for name, toks in _arrays(text).items()}
    out = {}
    for name in ("Rainbow", "Iron"):
        r, g, b = (arrays[f"{name}Color{c}"] for c in "RGB")
        assert len(r) == len(g) == len(b) == 256
        rgb = arrays[f"{name}ColorRGB"]
        assert rgb == [v for triple in zip(r, g, b, strict=True) for v in triple], f"{name}ColorRGB is not R, G, B interleaved"
        out[name] = {"red": r, "green": g, "blue": b}
    return out


def main(argv: list[str]) -> None:
    git_dir = Path(argv[0])
    commit = subprocess.run(["git", "-C", str(git_dir), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    table = {
        "sources": {"ADCore": commit},
        "files": ["ADApp/pluginSrc/NDPluginOverlayTextFont.cpp", "ADApp/pluginSrc/colorMaps.h"],
        "fonts": fonts(_show(git_dir, "ADApp/pluginSrc/NDPluginOverlayTextFont.cpp")),
        "color_maps": color_maps(_show(git_dir, "ADApp/pluginSrc/colorMaps.h")),
    }
    OUT.write_text(json.dumps(table, separators=(",", ":")) + "\n")
    print(f"{OUT}: fonts {', '.join(table['fonts'])}; colour maps {', '.join(table['color_maps'])}")


if __name__ == "__main__":
    main(sys.argv[1:])
