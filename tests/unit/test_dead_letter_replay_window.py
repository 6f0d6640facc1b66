"""Replaying a dead letter: refused once the processed marker of its event may have expired."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.ops import dead_letters
from shared import store
from shared.events import utcnow


def test_a_dead_letter_older_than_its_markers_can_live_is_not_replayed():
    stored = {"message_id": "m-1", "event_type": "bss.topup", "data": "{}", "attributes": {}}
    now = utcnow()
    assert dead_letters.replay_of({**stored, "at": now - timedelta(days=1)}, now).topic == "bss.topup"
    with pytest.raises(ValueError, match="could apply it twice"):
        dead_letters.replay_of({**stored, "at": now - store.MARKER_TTL}, now)
