"""The RE Manager worker's startup code: this project's session, as the queue server runs it.

``start-re-manager --startup-module beamline.queue_profile`` (what ``beamline-up`` runs)
imports this module in the worker process each time the environment opens; the queue
server takes its plans and devices from the names defined here:

* the session of :func:`beamline.session.make_session`: ``RE`` (its RunEngine, storing every
  run in databroker and, when a tiled server is configured, in tiled), ``db``, ``tiled`` and
  the devices ``dot``, ``I``, ``mtr_dotx``, ``mtr_doty``, under their usual names;
* a suspender on the ring current (``SuspendFloor`` on ``I``: below 300 mA a plan pauses,
  and goes on 0.5 s after the current is back above 450 mA, as in
  ``notebooks/when_things_go_wrong.ipynb``);
* :class:`~beamline.queue_profile.submitter.Submitter`: each run's start document records who
  submitted it (``user``, ``user_group``, ``queue_item_uid``), from the queue server's own
  record of the running item;
* :func:`~beamline.queue_profile.failures.explain_failures`: a plan that fails on a device's
  status fails with the device's own error (``IOCNotAnswering: ...``), which the history shows;
* the plans users may queue: bluesky's ``count``, ``scan``, ``rel_scan``, ``list_scan``,
  ``grid_scan`` and the stubs ``mv``, ``sleep``.

Which of them a user may run is set in ``user_group_permissions.yaml`` beside this file
(the queue server's own format). Configuration comes from the environment ``beamline-up``
gives the RE Manager: the session's variables (``BEAMLINE_PREFIX``, ``EPICS_CA_*``,
``BEAMLINE_DATABROKER_DIR``, ``BEAMLINE_TILED_URI``/``_API_KEY``) and
``BEAMLINE_QUEUE_REDIS`` (``redis://host:port``), ``BEAMLINE_QUEUE_REDIS_PREFIX``.
"""

import os

from bluesky.plan_stubs import mv, sleep  # noqa: F401 (plans the queue offers)
from bluesky.plans import count, grid_scan, list_scan, rel_scan, scan  # noqa: F401
from bluesky.suspenders import SuspendFloor

from beamline.session import make_session

from .failures import explain_failures
from .submitter import Submitter

#: The ring current (mA) below which a plan is suspended, and above which it resumes.
SUSPEND_BELOW, RESUME_ABOVE = 300.0, 450.0

if os.environ.get("BEAMLINE_CONFIG"):  # beamline-up --config FILE: the devices it declares, by its names
    _session = make_session(live=False, config=os.environ["BEAMLINE_CONFIG"])
    _rings = [_session[ioc.ring.name] for ioc in _session["beamline_config"].iocs if ioc.ring is not None]
    globals().update({name: device for name, device in _session.items()
                      if name not in ("RE", "db", "tiled", "bec", "beamline_config")})
    RE, db, tiled = _session["RE"], _session["db"], _session["tiled"]
    _ring = _rings[0] if _rings else None
else:
    _session = make_session(live=False)
    RE = _session["RE"]
    db = _session["db"]
    tiled = _session["tiled"]
    dot, I, mtr_dotx, mtr_doty = (_session[name] for name in ("dot", "I", "mtr_dotx", "mtr_doty"))  # noqa: E741 (the tutorial's name)
    _ring = I

if _ring is not None:
    RE.install_suspender(SuspendFloor(_ring, SUSPEND_BELOW, resume_thresh=RESUME_ABOVE, sleep=0.5))
RE.preprocessors.append(explain_failures)  # the history says why a device failed
if os.environ.get("BEAMLINE_QUEUE_REDIS"):
    RE.preprocessors.append(Submitter(os.environ["BEAMLINE_QUEUE_REDIS"],
                                      os.environ.get("BEAMLINE_QUEUE_REDIS_PREFIX", "qs_default")))
