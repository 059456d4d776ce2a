"""The delivery policy (core/delivery_policy.py), pure and property-tested with an injected clock.

What each answer means (2xx delivered, 410 disables the endpoint, 429 and 5xx
honour Retry-After, everything else follows the schedule), how many tries an
event gets, and that Retry-After, whatever a receiver writes in it, never
makes a try earlier than the schedule's nor parks an event for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicecore.core.delivery_policy import (
    DEFAULT_RETRY_SCHEDULE,
    RETRY_AFTER_CEILING,
    Answer,
    RetrySchedule,
    Verdict,
    retry_after,
    settle,
)

NOW = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)

schedules = st.lists(st.floats(min_value=0, max_value=36000, allow_nan=False), min_size=0, max_size=10).map(
    lambda rest: RetrySchedule((0.0, *rest))
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
failures = st.one_of(
    st.integers(min_value=300, max_value=599).filter(lambda s: s != 410).map(lambda s: Answer(status=s)),
    st.integers(min_value=100, max_value=199).map(lambda s: Answer(status=s)),
    st.sampled_from(["timeout", "connection failed"]).map(lambda f: Answer(failure=f)),
)
header_values = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers(min_value=0, max_value=10**12).map(str),
    moments.map(lambda m: format_datetime(m, usegmt=True)),
)


@given(schedules, st.integers(min_value=0, max_value=20), st.integers(200, 299), header_values, moments)
def test_any_2xx_delivers_whatever_came_before(
    schedule: RetrySchedule, tries: int, status: int, header: str | None, now: datetime
) -> None:
    settled = settle(Answer(status=status, retry_after=header), tries, schedule, now)
    assert (settled.verdict, settled.at, settled.error) == (Verdict.DELIVERED, now, None)


@given(schedules, st.integers(min_value=0, max_value=20), header_values, moments)
def test_410_disables_the_endpoint_and_costs_the_event_no_try(
    schedule: RetrySchedule, tries: int, header: str | None, now: datetime
) -> None:
    settled = settle(Answer(status=410, retry_after=header), tries, schedule, now)
    assert settled.verdict is Verdict.ENDPOINT_GONE
    assert not settled.counts_as_try
    assert settled.next_attempt_at is None


@given(schedules, failures, moments, st.data())
def test_a_failure_waits_the_schedule_until_the_last_try_then_the_event_is_dead(
    schedule: RetrySchedule, answer: Answer, now: datetime, data: st.DataObject
) -> None:
    tries = data.draw(st.integers(min_value=0, max_value=schedule.tries + 2))
    settled = settle(answer, tries, schedule, now)
    assert settled.error == answer.description
    if tries + 1 >= schedule.tries:
        assert settled.verdict is Verdict.DEAD
        assert settled.next_attempt_at is None
    else:
        assert settled.verdict is Verdict.RETRY
        assert settled.next_attempt_at == now + timedelta(seconds=schedule.delays[tries + 1])


@given(schedules, failures, st.lists(moments, min_size=1, max_size=60))
def test_an_event_failing_every_time_is_tried_exactly_as_often_as_the_schedule_says(
    schedule: RetrySchedule, answer: Answer, clock: list[datetime]
) -> None:
    """The life of one event: each try's answer settles the next, on whatever clock."""
    tries, verdict = 0, Verdict.RETRY
    while verdict is Verdict.RETRY:
        settled = settle(answer, tries, schedule, clock[tries % len(clock)])
        verdict = settled.verdict
        if settled.counts_as_try:
            tries += 1
    assert verdict is Verdict.DEAD
    assert tries == schedule.tries


@pytest.mark.parametrize("status", [429, 500, 502, 503, 599])
@given(seconds=st.integers(min_value=0, max_value=3 * 24 * 3600), tries=st.integers(0, 5))
def test_429_and_5xx_wait_at_least_their_retry_after_in_seconds(
    status: int, seconds: int, tries: int
) -> None:
    schedule = RetrySchedule(DEFAULT_RETRY_SCHEDULE)
    settled = settle(Answer(status=status, retry_after=str(seconds)), tries, schedule, NOW)
    assert settled.next_attempt_at is not None
    asked = min(timedelta(seconds=seconds), RETRY_AFTER_CEILING)
    expected = max(asked, timedelta(seconds=schedule.delays[tries + 1]))
    assert settled.next_attempt_at == NOW + expected


@given(ahead=st.integers(min_value=-3600, max_value=3 * 24 * 3600))
def test_retry_after_as_an_http_date_is_a_wait_from_now(ahead: int) -> None:
    header = format_datetime(NOW + timedelta(seconds=ahead), usegmt=True)
    wait = retry_after(header, NOW)
    assert wait == min(max(timedelta(seconds=ahead), timedelta(0)), RETRY_AFTER_CEILING)


@given(st.text(max_size=200))
def test_retry_after_never_fails_and_stays_within_bounds(header: str) -> None:
    wait = retry_after(header, NOW)
    assert wait is None or timedelta(0) <= wait <= RETRY_AFTER_CEILING


@pytest.mark.parametrize("status", [400, 404, 301, 307, 199])
def test_other_answers_ignore_retry_after_and_follow_the_schedule(status: int) -> None:
    schedule = RetrySchedule((0, 7, 9))
    settled = settle(Answer(status=status, retry_after="3600"), 0, schedule, NOW)
    assert (settled.verdict, settled.next_attempt_at) == (Verdict.RETRY, NOW + timedelta(seconds=7))


def test_the_default_schedule_is_the_specifications() -> None:
    assert RetrySchedule().delays == (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
    assert RetrySchedule().tries == 8


@pytest.mark.parametrize(
    ("delays", "problem"),
    [((), "at least one try"), ((0, -1), "never negative"), ((5, 10), "starts with 0")],
)
def test_a_schedule_that_makes_no_sense_is_refused(delays: tuple[float, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RetrySchedule(delays)
