"""Text in a char waveform reads back whole through ophyd, while ophyd fetches its metadata.

The flake this guards against: under the suite's load ``cam.status_message.get()`` read
'E' (for "Error reading the frame from the sensor") and the session's data root read '/'
(every image then went to /images/...). pyepics serves a read from a pending read of the
same channel and DBR type whatever its element count, and ophyd fetches a newly connected
channel's alarm and time stamp with ``PV.get_timevars``: a DBR_TIME read of one element
(see ``beamline/text_signals.py``). The thread below makes those metadata reads without
pause, so that most value reads start while one is pending: the window a connection opens
once, by chance, in the suite. Before the fix about half of the reads came back as one
character; EPICS base's softIoc serves the same single character.
"""

from __future__ import annotations

import threading

import pytest

from beamline.connection import ioc_data_root
from beamline.devices import make_devices

from . import ca

READS = 150


def _with_metadata_reads(signal, read) -> list[str]:
    """``read()`` READS times while another thread re-reads ``signal``'s time stamp as ophyd does."""
    signal.wait_for_connection(timeout=10)
    pv = signal._read_pv  # the pyepics PV ophyd reads (shared by every signal on that PV)
    stop = threading.Event()

    def metadata():
        while not stop.is_set():
            pv.get_timevars(timeout=5)

    thread = threading.Thread(target=metadata, daemon=True)
    thread.start()
    try:
        return [read() for _ in range(READS)]
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture(scope="module")
def dot(ioc):
    dot = make_devices(ioc.prefix, str(ioc.data_root / "images" / "%Y/"))["dot"]
    dot.wait_for_connection(timeout=10)
    dot.tiff.file_path.set(str(ioc.data_root) + "/").wait(10)
    dot.tiff.file_name.set("text_reads_check").wait(10)
    return dot


@pytest.mark.parametrize("attr, pv", [
    ("tiff.file_path", "dot:TIFF1:FilePath_RBV"),
    ("tiff.file_name", "dot:TIFF1:FileName_RBV"),
    ("tiff.file_template", "dot:TIFF1:FileTemplate_RBV"),
    ("cam.status_message", "dot:cam1:StatusMessage_RBV"),
])
def test_a_text_setting_reads_whole_while_ophyd_fetches_its_metadata(ioc, dot, attr, pv):
    signal = dot
    for part in attr.split("."):
        signal = getattr(signal, part)
    text = ca.get_str(ioc.prefix + pv)  # read with caproto's client
    assert len(text) > 1, f"{pv} holds {text!r}: too short to tell a cut read"
    reads = _with_metadata_reads(signal, lambda: signal.get(use_monitor=False))
    wrong = [r for r in reads if r != text]
    assert not wrong, f"{len(wrong)} of {READS} reads of {signal.pvname} were not {text!r}: {sorted(set(wrong))}"


def test_the_data_root_reads_whole_while_ophyd_fetches_its_metadata(ioc):
    from ophyd import EpicsSignalRO

    root = str(ioc.data_root)
    # ioc_data_root makes a signal on sim:DataRoot each call; they share one pyepics PV.
    probe = EpicsSignalRO(f"{ioc.prefix}sim:DataRoot", name="probe", string=True)
    reads = _with_metadata_reads(probe, lambda: ioc_data_root(ioc.prefix, timeout=5))
    wrong = [r for r in reads if r != root]
    assert not wrong, f"{len(wrong)} of {READS} data roots read were not {root!r}: {sorted(set(wrong))}"
