"""EPICS records over caproto: record types and their fields, the one-line declarations, put checks.

:mod:`.declare` (``ao``, ``bi``, ``mbbo``, ``waveform``...: one record per line in a group's
class), :mod:`.spec` (what a record is: :class:`Record` -> ``pvproperty`` arguments),
:mod:`.channels` (our channel classes: checked puts, records with fields built on first use),
:mod:`.fields` (each record type's fields), :mod:`.checks` (a client's put checked before
caproto converts it), :mod:`.group` (:class:`RecordGroup`, the echo of a setting to its
readback), :mod:`.validate` (range checks with messages naming the PV), :mod:`.macros`.
"""

from .checks import PutRefused, check_put, pv_name
from .group import RecordGroup, echo_to_readback, sync_readbacks, utf8_fit
from .macros import Macro
from .spec import Record, pv_kwargs

__all__ = ["Macro", "PutRefused", "Record", "RecordGroup", "check_put", "echo_to_readback", "pv_kwargs", "pv_name",
           "sync_readbacks", "utf8_fit"]
