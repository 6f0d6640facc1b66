"""The forward-only SMS status machine: callbacks out of order or twice never move a message back."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.notify import status
from functions.notify.status import (DELIVERED, FAILED, FINAL, QUEUED, SENDING, SENT, STATUSES,
                                     UNDELIVERED, apply, replay)

ORDER = [QUEUED, SENDING, SENT]            # then exactly one of the finals
UNTRACKED = ["accepted", "scheduled", "receiving", "read", "canceled-by-someone"]

reports = st.lists(st.sampled_from(STATUSES + tuple(UNTRACKED)), max_size=12)


def furthest(sequence: list[str]) -> str:
    """The reference answer: the first final reached, else the furthest non-final status."""
    for reported in sequence:
        if reported in FINAL:
            return reported
    reached = [s for s in sequence if s in ORDER]
    return max(reached, key=ORDER.index, default=QUEUED)


@pytest.mark.parametrize("current, reported, expected", [
    (QUEUED, SENDING, SENDING), (QUEUED, SENT, SENT), (SENDING, SENT, SENT),
    (QUEUED, DELIVERED, DELIVERED), (SENT, DELIVERED, DELIVERED), (SENT, UNDELIVERED, UNDELIVERED),
    (SENDING, FAILED, FAILED),
    (SENT, SENDING, SENT), (SENT, QUEUED, SENT), (SENDING, QUEUED, SENDING),   # never backwards
    (SENT, SENT, SENT), (QUEUED, QUEUED, QUEUED),                             # twice: no change
])
def test_single_reports(current, reported, expected):
    assert apply(current, reported).current == expected


@pytest.mark.parametrize("final, reported", list(itertools.product(sorted(FINAL), STATUSES)))
def test_a_final_status_never_changes(final, reported):
    transition = apply(final, reported)
    assert transition.current == final
    assert not transition.changed and not transition.became_final


@pytest.mark.parametrize("reported", UNTRACKED)
def test_statuses_we_do_not_track_never_move_a_message(reported):
    assert apply(SENT, reported).current == SENT


def test_became_final_only_on_the_move_into_a_final_status():
    assert apply(SENT, DELIVERED).became_final
    assert not apply(DELIVERED, DELIVERED).became_final
    assert not apply(QUEUED, SENT).became_final


def test_an_unknown_current_status_is_a_bug_not_a_report():
    with pytest.raises(ValueError):
        apply("lost", SENT)


def test_delivered_then_sent_arriving_out_of_order_ends_delivered():
    assert replay([DELIVERED, SENT]) == DELIVERED
    assert replay([SENT, DELIVERED, SENDING, SENT]) == DELIVERED


@given(reports)
def test_any_sequence_ends_in_the_furthest_status_reached(sequence):
    assert replay(sequence) == furthest(sequence)


@given(st.permutations([SENDING, SENT, DELIVERED, SENT, SENDING]))
def test_any_order_of_one_messages_callbacks_ends_in_its_final_status(sequence):
    assert replay(sequence) == DELIVERED


@given(reports, st.sampled_from(sorted(FINAL)), reports)
def test_nothing_after_the_first_final_changes_the_outcome(before, final, after):
    prefix = before + [final]
    assert replay(prefix + after) == replay(prefix)


@given(reports)
def test_status_never_moves_backwards_along_the_way(sequence):
    rank = {s: i for i, s in enumerate(ORDER)} | {f: len(ORDER) for f in FINAL}
    current = QUEUED
    for reported in sequence:
        following = apply(current, reported).current
        assert rank[following] >= rank[current]
        assert current not in FINAL or following == current
        current = following


@given(reports)
def test_a_duplicate_callback_changes_nothing(sequence):
    for index in range(len(sequence)):
        doubled = sequence[:index + 1] + [sequence[index]] + sequence[index + 1:]
        assert replay(doubled) == replay(sequence)


def test_is_final():
    assert [s for s in STATUSES if status.is_final(s)] == [DELIVERED, UNDELIVERED, FAILED]
