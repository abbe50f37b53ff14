"""Who submitted a run: the queue server's record of its running item, put into the start document.

bluesky-queueserver 0.0.25 keeps who submitted each queue item (``user``, ``user_group``: the
HTTP server fills them in from the authenticated login; the ``qserver`` CLI sends
``qserver-cli``/``primary``) in the item, the queue's history and Redis, but passes only the
item's ``meta`` to the RunEngine: the start documents do not say who. :class:`Submitter`, a
RunEngine preprocessor installed by the worker's startup code, reads the running item from
Redis when a plan starts (RE Manager writes it there before it hands the plan to the worker)
and adds ``user``, ``user_group`` and ``queue_item_uid`` to every run the plan opens. They
win over the same keys in the item's ``meta`` or ``RE.md``: a user cannot claim to be
another. A plan started outside the queue (no running item) is left as it is.
"""

from __future__ import annotations

import json
import logging

from bluesky.preprocessors import inject_md_wrapper

logger = logging.getLogger(__name__)


class Submitter:
    """RunEngine preprocessor: ``RE.preprocessors.append(Submitter("redis://127.0.0.1:6379"))``."""

    def __init__(self, redis_url: str, name_prefix: str = "qs_default", timeout: float = 5.0) -> None:
        import redis

        self._redis = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                           decode_responses=True)
        # bluesky_queueserver.manager.plan_queue_ops.PlanQueueOperations keeps the running item
        # under this key, as JSON.
        self.key = f"{name_prefix}_running_plan" if name_prefix else "running_plan"

    def running_item(self) -> dict:
        """The queue item RE Manager has set running (``{}`` if none, or Redis cannot say)."""
        try:
            return json.loads(self._redis.get(self.key) or "{}")
        except Exception as exc:  # Redis gone: the run goes on without the names, and the log says so
            logger.warning("cannot read the running queue item from Redis (%s): %s", self.key, exc)
            return {}

    def metadata(self) -> dict:
        item = self.running_item()
        md = {"user": item.get("user"), "user_group": item.get("user_group"), "queue_item_uid": item.get("item_uid")}
        return {key: value for key, value in md.items() if value}

    def __call__(self, plan):
        md = self.metadata()
        return inject_md_wrapper(plan, md) if md else plan
