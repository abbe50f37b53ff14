"""Every use of caproto's private API, in one place, with why and what to check on a new caproto.

The rest of ``ioc/`` extends caproto by subclassing its public classes (``PVGroup``,
``pvproperty``, the ``Pvproperty*`` channel classes, ``RecordFieldGroup``, the asyncio
``Context`` and ``VirtualCircuit``) and imports nothing private except through this module.
caproto 1.3 has no public API for what is listed below.

Private names imported (re-exported here):

* ``_commands.parse_metadata``, ``pad_buffers``, ``ensure_eca_value`` and ``_headers``'
  ``EventAddResponseHeader``/``ReadNotifyResponseHeader``: our server builds a monitor update
  or a get reply of a large array around the array it already converted, without the copy
  caproto's message classes make (``encoding.Encoded``, ``circuit.Circuit._fast_read``);
* ``_dbr._LongStringChannelType``: a ``PV.NAME$`` read asks for one (caproto's ReadNotify does the same);
* ``_numpy_backend.type_map``: the wire's numpy dtype of each CA type;
* ``_utils.apply_deadband_filter``: the ``.{"dbnd": ...}`` channel filter, as caproto applies it;
* ``_constants.SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS``, ``MIN_SUBSCRIPTION_BACKLOG``:
  a large waveform declares the backlog caproto would choose, so that caproto does not warn.

Private members our subclasses override or read (``ioc/server/circuit.py``,
``context.py``, ``encoding.py``): ``VirtualCircuit._process_command``, ``_on_disconnect``,
``_cull_subscriptions``, ``_get_db_entry_from_command``, ``_get_ids_from_command``,
``_send_buffers``, ``_sub_task``, ``tasks``, ``Context.last_dead_band``,
``last_sync_edge_update``, ``subscription_queue``, ``_broadcaster_queue_iteration`` (with
``broadcaster``, ``ignore_addresses`` and ``udp_socks``: the search reply, fix 10 of
:mod:`ioc.server`), the sans-I/O circuit's ``_data`` buffer,
``ChannelData._read`` and ``_read_metadata``; and ``RecordFieldGroup._record_type``, the
record type a field group declares (``ioc/records/fields.py``, ``ioc/motor/fields.py``), as
caproto's own field groups do.

On a new caproto version: check each name above against its source (they were written
against 1.3); importing this module refuses any other major.minor, so a mismatch fails at
start, not in a client's request.
"""

from __future__ import annotations

import caproto as ca
from caproto._commands import ensure_eca_value, pad_buffers, parse_metadata
from caproto._constants import MIN_SUBSCRIPTION_BACKLOG, SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS
from caproto._dbr import _LongStringChannelType
from caproto._headers import EventAddResponseHeader, ReadNotifyResponseHeader
from caproto._numpy_backend import type_map
from caproto._utils import apply_deadband_filter

WRITTEN_FOR = (1, 3)  # caproto major.minor these overrides were written against
_version = tuple(int(x) for x in ca.__version__.split(".")[:2] if x.isdigit())
if _version != WRITTEN_FOR:
    raise ImportError(f"ioc.server overrides private methods of caproto {'.'.join(map(str, WRITTEN_FOR))}; "
                      f"caproto {ca.__version__} is installed: check each override against its source first")

LongStringChannelType = _LongStringChannelType

__all__ = ["EventAddResponseHeader", "LongStringChannelType", "MIN_SUBSCRIPTION_BACKLOG", "ReadNotifyResponseHeader",
           "SUBSCRIPTION_BACKLOG_WARN_THRESHOLD_ELEMENTS", "WRITTEN_FOR", "apply_deadband_filter", "ensure_eca_value",
           "pad_buffers", "parse_metadata", "type_map"]
