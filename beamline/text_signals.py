"""ophyd signals for text in a char waveform (a file path, a status message) that read it whole.

With ophyd's pyepics control layer a char waveform can read back as its first character
('E' for "Error reading the frame from the sensor", '/' for the data root), from any IOC
(EPICS base's softIoc does it too), because of two things pyepics does:

* ``epics.ca.get_with_metadata`` keys a read in flight by channel and DBR type only: a
  read made while another read of the same type is pending is served that read's reply,
  whatever element count the other one asked for. ophyd fetches a newly connected
  channel's alarm and time stamp (``PV.get_timevars``, from its metadata thread, and again
  from the thread that first reads the signal) as a DBR_TIME read of ONE element; a value
  read (ophyd's form ``'time'``: DBR_TIME, every element) that starts while that one is
  pending gets that one element.
* ``PV.get`` asks the IOC for as many elements as the channel's last monitor update
  held, so a monitored text that has since grown reads back cut short.

The signals here send a read that goes to the IOC as DBR_CHAR (the native type, which
neither pyepics nor ophyd use for their one-element metadata reads) for every element (an
element count of 0: as many as the IOC holds). A read served from the signal's own monitor
(``auto_monitor=True``) is left as ophyd makes it: it asks the IOC nothing. A DBR_CHAR
reply carries no time stamp, so such a read stamps the signal's metadata with the
client's clock (as ophyd does for any read without one).
"""

from __future__ import annotations

from ophyd import EpicsSignalRO
from ophyd.areadetector.base import EpicsSignalWithRBV
from ophyd.areadetector.paths import EpicsPathSignal
from ophyd.signal import UNSET_VALUE

__all__ = ["TextPathSignal", "TextReads", "TextSignalRO", "TextSignalWithRBV"]


class TextReads:
    """Mixin for an ophyd ``EpicsSignalBase`` on a char waveform: reads from the IOC ask for
    DBR_CHAR, every element (see the module docstring)."""

    def get(self, *, count=None, form="time", use_monitor=None, **kwargs):
        if use_monitor is None:
            use_monitor = self._auto_monitor
        from_monitor = use_monitor and self._auto_monitor and self._readback is not UNSET_VALUE
        if not from_monitor and count is None and form == "time":
            form, count = "native", 0
        return super().get(count=count, form=form, use_monitor=use_monitor, **kwargs)


class TextSignalRO(TextReads, EpicsSignalRO):
    """A read-only char waveform read as text (``string=True``)."""

    def __init__(self, read_pv, *, string=True, **kwargs) -> None:
        super().__init__(read_pv, string=string, **kwargs)


class TextSignalWithRBV(TextReads, EpicsSignalWithRBV):
    """An areaDetector text setting ``X`` with its ``X_RBV`` readback (``string=True``)."""

    def __init__(self, prefix, *, string=True, **kwargs) -> None:
        super().__init__(prefix, string=string, **kwargs)


class TextPathSignal(TextReads, EpicsPathSignal):
    """An areaDetector ``FilePath`` (ophyd's ``EpicsPathSignal``) read whole."""
