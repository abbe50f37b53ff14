"""The IOC's refusals of the displays' puts, logged where the main display shows them.

PyDM puts with pyepics without a callback; an IOC that refuses the value answers with a CA
error message carrying its reason, which libca hands to the exception handler of
:mod:`beamline.refusals`. Every connection PyDM makes is watched, and a refusal is logged
(logger ``beamline.screens``) as PyDM logs a put that failed in the client.
"""

from __future__ import annotations

import logging

from pydm import data_plugins

from beamline import refusals

LOG = "beamline.screens"  #: the logger whose records the main display's message pane shows

_watched: dict[int, object] = {}


def watch_new_connections() -> int:
    """Watch every pyepics connection PyDM has made since the last call; returns how many."""
    count = 0
    for plugin in list(data_plugins.plugin_modules.values()):
        for conn in list(plugin.connections.values()):
            pv = getattr(conn, "pv", None)
            if pv is None or id(conn) in _watched or not hasattr(pv, "chid"):
                continue
            _watched[id(conn)] = refusals.watch(pv, _logger_for(pv.pvname))
            count += 1
    return count


def _logger_for(pvname: str):
    def refused(context: str) -> None:
        logging.getLogger(LOG).error("%s: the IOC refused the put: %s", pvname, refusals.reason(context, pvname))
    return refused
