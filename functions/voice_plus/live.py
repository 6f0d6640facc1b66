"""The live campaigns as the edge and the top-up's transaction select from: read at most every
`campaign_refresh_seconds`, compiled once per read (selection.Pool).

A webhook must pick a campaign within milliseconds, so it does not query the campaigns on every
call: one request in `campaign_refresh_seconds` reads them again (about 10 ms), the others answer
from the last read. A campaign paused or stopped is therefore offered for at most
`campaign_refresh_seconds` more; the accepting transaction reads the campaign itself, and the budget
exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo

from google.cloud import firestore

from functions.edge.api import READ_DEADLINE_SECONDS, READ_RETRY
from functions.voice_plus.documents import BUDGETS, CAMPAIGNS, Campaign
from functions.voice_plus.selection import Pool
from shared import store

logger = logging.getLogger(__name__)
RETRY_AFTER_FAILURE_SECONDS = 1.0  # with nothing read yet, a failed read is not tried again by every request


class CampaignsUnavailable(RuntimeError):
    """The campaigns could not be read and none were read before: answer without an offer."""


def read_pool(db: firestore.Client, zone: tzinfo) -> Pool:
    """Every live campaign with its budget used, compiled (two reads: the campaigns, their budgets).

    Within the edge's read deadline: an outage costs a request 2.5 s at most, never the client's minutes of retries.
    """
    query = db.collection(CAMPAIGNS).where(filter=firestore.FieldFilter("status", "==", "live"))
    live = [
        Campaign.model_validate(snapshot.to_dict())
        for snapshot in query.stream(retry=READ_RETRY, timeout=READ_DEADLINE_SECONDS)
    ]
    refs = [db.collection(BUDGETS).document(campaign.id) for campaign in live if campaign.budget is not None]
    snapshots = db.get_all(refs, retry=READ_RETRY, timeout=READ_DEADLINE_SECONDS) if refs else ()
    used = {snapshot.id: int((snapshot.to_dict() or {}).get("used", 0)) for snapshot in snapshots}
    return Pool.of(((campaign, used.get(campaign.id, 0)) for campaign in live), zone)


@dataclass
class LivePool:
    """One process's pool: read on first use and again, by one request, once older than `refresh_seconds`."""

    db: Callable[[], firestore.Client]
    zone: tzinfo
    refresh_seconds: float
    _pool: Pool | None = None
    _read_at: float = 0.0
    _failed_at: float = float("-inf")

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def current(self) -> Pool:
        """The live campaigns, read at most `refresh_seconds` ago.

        A stale pool is read again by the request that finds it stale, while concurrent requests answer
        from the previous read rather than wait; a pool nobody could read is read by the next request.
        """
        if self._pool is not None and time.monotonic() - self._read_at <= self.refresh_seconds:
            return self._pool
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    if time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_SECONDS:
                        raise CampaignsUnavailable("the campaigns could not be read a moment ago")
                    try:
                        self._read()
                    except Exception:
                        self._failed_at = time.monotonic()  # the next requests answer at once, without offers
                        raise
                return self._pool  # type: ignore[return-value]  # set by _read
        if self._lock.acquire(blocking=False):
            try:
                self._read()
            except Exception:  # the previous read keeps answering; the next request tries again
                logger.exception("campaigns could not be read; offering from the previous read")
            finally:
                self._lock.release()
        return self._pool

    def forget(self) -> None:
        """Read again on the next request (care's CLI and tests, right after changing a campaign)."""
        self._read_at = float("-inf")

    def _read(self) -> None:
        self._pool, self._read_at = read_pool(self.db(), self.zone), time.monotonic()


_pools: dict[tuple[str, float], LivePool] = {}  # the process's pools: one per operator zone (and refresh)


def process_pool(zone_name: str, refresh_seconds: float) -> LivePool:
    """The process's one pool of live campaigns in the operator's zone: every webhook and add-on selects from it."""
    key = (zone_name, refresh_seconds)
    if key not in _pools:
        _pools[key] = LivePool(store.db, ZoneInfo(zone_name), refresh_seconds)
    return _pools[key]
