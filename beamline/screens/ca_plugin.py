"""PyDM's pyepics plugin for ``ca://`` channels, with a connection whose state cannot go stale.

PyDM 1.29's ``Connection.add_listener`` runs on a thread pool: it asks libca whether the
channel is connected, then sends that state to the widgets. A connection callback from libca
that lands between the two (the ``ca_state`` call releases the GIL) sends "connected", and
the stale "not connected" follows it: the widget then shows values under a disconnected
border for good, and ``beamline-screens --screenshot`` names the channel as never connected
(seen once in a few full test runs, each time on another channel). Here the check and the
send, and every connection callback, take one lock, so the last state sent is libca's.
"""

from __future__ import annotations

import logging
import threading

from pydm import data_plugins
from pydm.data_plugins.epics_plugins.pyepics_plugin_component import Connection, PyEPICSPlugin

_STATE = threading.RLock()


class OrderedConnection(Connection):
    """A pyepics connection whose listeners always end with the channel's current state."""

    def send_connection_state(self, conn=None, *args, **kws):
        with _STATE:
            super().send_connection_state(conn, *args, **kws)

    def add_listener(self, channel):
        with _STATE:
            super().add_listener(channel)


class OrderedEPICSPlugin(PyEPICSPlugin):
    """PyDM's pyepics plugin for ``ca://``, making :class:`OrderedConnection` s."""

    protocol = "ca"
    connection_class = OrderedConnection


def install() -> None:
    """Serve ``ca://`` (and PyDM's default protocol, when it is ca) with :class:`OrderedEPICSPlugin`."""
    data_plugins.initialize_plugins_if_needed()
    if isinstance(data_plugins.plugin_modules.get("ca"), OrderedEPICSPlugin):
        return
    log = logging.getLogger(data_plugins.__name__)
    level = log.level
    log.setLevel(logging.ERROR)  # "Replacing ... plugin": that is the point
    try:
        data_plugins.add_plugin(OrderedEPICSPlugin)
    finally:
        log.setLevel(level)
