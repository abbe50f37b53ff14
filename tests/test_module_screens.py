"""The modules' own screens against the IOC: every channel that areaDetector's and the motor
module's caQtDM/MEDM screens use for this camera and motor (tests/data/module_screen_channels.json,
made by tools/module_screens.py from the screens and the modules' databases) connects, with
the type its widget expects: a number, an enum with the modules' strings, a string, text in a
char waveform, an array. Read with caproto's client, as a display manager's CA client would.

Every one is served as an IOC of the modules serves it (``EXTENDED``: its choices first, and
more after them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from caproto import ChannelType
from caproto.threading.client import Context

TABLE = json.loads((Path(__file__).parent / "data" / "module_screen_channels.json").read_text())
CHANNELS = {entry["channel"]: entry for entry in TABLE["channels"]}
CONNECT_TIMEOUT = 10.0  # s, for all of them together

# Served with the modules' choices first and more after them: name -> why.
EXTENDED = {"BL:dot:cam1:SimMode": "the beamline's BeamSpot mode follows ADSimDetector's four"}

_CTRL = {ChannelType.ENUM: ChannelType.CTRL_ENUM}
_NUMBERS = {ChannelType.INT, ChannelType.LONG, ChannelType.FLOAT, ChannelType.DOUBLE, ChannelType.CHAR}


def _kind(native: ChannelType, count: int) -> str:
    """What a widget would show: the generator's kinds, from what CA says."""
    if native == ChannelType.ENUM:
        return "enum"
    if native == ChannelType.STRING:
        return "string"
    if native == ChannelType.CHAR and count != 1:
        return "text"
    return "array" if count != 1 else "number"


def _strings(strings) -> list[str]:
    out = [s.decode() if isinstance(s, bytes) else s for s in strings or ()]
    while out and not out[-1]:
        out.pop()
    return out


@pytest.fixture(scope="module")
def observed(ioc) -> dict[str, dict]:
    """name -> what CA reports for it (None if it did not connect within the timeout)."""
    ctx = Context(timeout=CONNECT_TIMEOUT)
    try:
        pvs = dict(zip(CHANNELS, ctx.get_pvs(*CHANNELS, timeout=CONNECT_TIMEOUT), strict=True))
        deadline = time.monotonic() + CONNECT_TIMEOUT
        out: dict[str, dict | None] = {}
        for name, pv in pvs.items():
            try:
                pv.wait_for_connection(timeout=max(deadline - time.monotonic(), 0.1))
            except TimeoutError:
                out[name] = None
                continue
            native, count = pv.channel.native_data_type, pv.channel.native_data_count
            info = {"ca_type": native.name, "count": count, "kind": _kind(native, count)}
            if native == ChannelType.ENUM:
                info["enum_strings"] = _strings(pv.read(data_type=_CTRL[native], timeout=5).metadata.enum_strings)
            else:
                assert native in _NUMBERS | {ChannelType.STRING}, (name, native)
            out[name] = info
        return out
    finally:
        ctx.disconnect()


def _problem(entry: dict, seen: dict | None) -> str | None:
    """How the IOC's channel differs from what the screen's widgets expect (None: it does not)."""
    widgets = ", ".join(sorted({f"{w['class']} in {w['screen'].split(' (')[0]}" for w in entry["widgets"]}))
    if seen is None:
        return f"{entry['channel']}: did not connect ({widgets})"
    modules = f"{entry['ca_type']}[{entry.get('count', 1)}]"
    if seen["kind"] != entry["expects"] or (seen["ca_type"], seen["count"]) != (entry["ca_type"], entry.get("count", 1)):
        return (f"{entry['channel']}: {widgets} expect a {entry['expects']} ({entry['record']}.{entry['field']}: "
                f"{modules}), the IOC serves a {seen['kind']} ({seen['ca_type']}[{seen['count']}])")
    expected = entry.get("enum_strings")
    if seen["kind"] == "enum" and expected is not None:
        choices = seen["enum_strings"]
        if entry["channel"] in EXTENDED:
            choices = choices[:len(_strings(expected))]
        if _strings(expected) != choices:
            return f"{entry['channel']}: {widgets} expect the choices {_strings(expected)}, the IOC has {choices}"
    return None


def test_the_table_covers_the_screens():
    """The generator found the screens' channels, the same in caQtDM's and MEDM's files, each
    in the modules' databases."""
    assert TABLE["problems"] == []
    assert len(CHANNELS) > 500
    assert {"BL:dot:cam1:ImageMode", "BL:dot:HDF1:SWMRMode", "BL:mtr:dotx.RBV"} <= set(CHANNELS)


def test_every_channel_of_the_module_screens_is_served_as_its_widgets_expect(observed):
    """Connected, with the CA type and element count a real IOC of the modules serves there
    and its choices (EXTENDED: its choices first)."""
    problems = [p for name, entry in CHANNELS.items() if (p := _problem(entry, observed[name]))]
    assert not problems, f"{len(problems)} of {len(CHANNELS)}:\n" + "\n".join(problems)
