"""The bounds' arithmetic as properties (core/bounds.py): periods, usage per day, when allowances run out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicecore.core.bounds import (
    BoundsPolicy,
    UsagePeriod,
    allowance_runs_out,
    day_changes,
    day_index,
    day_split,
    ends_at,
    period_of,
    seconds_until,
    usage,
)

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
).map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000))
spans = st.integers(0, 10 * 24 * 3600 * 1000).map(lambda ms: timedelta(milliseconds=ms))


@given(st.sampled_from(UsagePeriod), moments)
def test_a_period_holds_its_moment_and_starts_at_midnight_utc(period: UsagePeriod, moment: datetime) -> None:
    start, end = period_of(period, moment)
    assert start <= moment < end
    assert (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    assert period_of(period, end) == (end, period_of(period, end)[1])  # the next period begins at the end
    match period:
        case UsagePeriod.DAY:
            assert end - start == timedelta(days=1)
        case UsagePeriod.WEEK:
            assert (start.weekday(), end - start) == (0, timedelta(days=7))  # from Monday
        case UsagePeriod.MONTH:
            assert (start.day, end.day) == (1, 1)
            assert timedelta(days=28) <= end - start <= timedelta(days=31)


@given(moments, spans)
def test_a_span_is_split_across_utc_days_without_losing_a_millisecond(
    start: datetime, span: timedelta
) -> None:
    split = day_split(start, start + span)
    assert sum(ms for _, ms in split) == span // timedelta(milliseconds=1)
    assert [day for day, _ in split] == list(range(day_index(start), day_index(start) + len(split)))
    assert all(0 < ms <= 24 * 3600 * 1000 for _, ms in split)


@given(moments, spans, spans)
def test_correcting_an_end_moves_only_the_difference(
    start: datetime, first: timedelta, second: timedelta
) -> None:
    before, after = (start, start + first), (start, start + second)
    corrected = dict(day_changes(None, before))
    for day, ms in day_changes(before, after):
        corrected[day] = corrected.get(day, 0) + ms
    assert {day: ms for day, ms in corrected.items() if ms} == dict(day_split(*after))


@given(
    st.sampled_from(UsagePeriod),
    moments,
    st.lists(st.integers(-40 * 24 * 3600, 0).map(lambda s: timedelta(seconds=s)), max_size=4),
    st.integers(0, 100_000),
)
def test_usage_counts_the_live_sessions_time_within_the_period_only(
    period: UsagePeriod, now: datetime, ages: list[timedelta], ended_ms: int
) -> None:
    start, end = period_of(period, now)
    live = [now + age for age in ages]
    ended_days = [(day_index(start), ended_ms), (day_index(start) - 1, 10**9), (day_index(end), 10**9)]
    used = usage(period, 600, ended_days, live, now)
    expected = ended_ms / 1000 + sum((now - max(created, start)).total_seconds() for created in live)
    assert abs(used.used_seconds - expected) < 1e-6
    assert used.live_sessions == len(live)
    assert used.remaining_seconds == pytest.approx(max(0.0, 600 - expected), abs=1e-6)


@given(
    moments,
    st.integers(60, 10_000),
    st.integers(0, 20_000),
    st.integers(1, 4),
)
def test_the_allowance_runs_out_when_the_live_sessions_have_used_what_was_left(
    now: datetime, limit: int, used_ms: int, live: int
) -> None:
    start, end = period_of(UsagePeriod.MONTH, now)
    used = usage(UsagePeriod.MONTH, limit, [(day_index(start), used_ms)], [now] * live, now)
    out = allowance_runs_out(used)
    assert out is not None
    if used.exhausted:
        assert out <= now or out >= end  # nothing left: now, or the fresh period's allowance
    elif out < end:
        # Running together from now until ``out`` uses exactly what was left.
        spent = (out - now).total_seconds() * live
        assert abs(spent - (used.remaining_seconds or 0)) < 1e-3
    else:
        # The period ends first: the fresh allowance lasts limit / live into the next one.
        assert out == end + timedelta(seconds=limit / live)


@given(
    moments,
    st.integers(60, 10_000),
    st.lists(st.integers(0, 3_600_000_000), min_size=1, max_size=4),
    st.integers(0, 3_600_000_000),
)
def test_the_run_out_moment_is_the_same_whenever_it_is_computed(
    now: datetime, limit: int, ages_us: list[int], later_us: int
) -> None:
    # A start computes its deadline, then tightens its siblings a moment later; both must agree
    # to the microsecond, or a session's status and its sibling's disagree about one shared end.
    live = [now - timedelta(microseconds=age) for age in ages_us]
    later = now + timedelta(microseconds=later_us)
    first = usage(UsagePeriod.MONTH, limit, [], live, now)
    second = usage(UsagePeriod.MONTH, limit, [], live, later)
    out = allowance_runs_out(first)
    if (
        out is None
        or second.exhausted
        or period_of(UsagePeriod.MONTH, later) != period_of(UsagePeriod.MONTH, now)
    ):
        return  # already out by ``later``, or a new period: a different question
    assert allowance_runs_out(second) == out


def test_no_allowance_or_nobody_live_never_runs_out() -> None:
    now = datetime(2031, 3, 1, 12, tzinfo=UTC)
    assert allowance_runs_out(usage(UsagePeriod.DAY, None, [], [now], now)) is None
    assert allowance_runs_out(usage(UsagePeriod.DAY, 600, [], [], now)) is None


@given(moments, st.integers(0, 7200))
def test_the_length_cap_counts_from_creation_and_zero_turns_it_off(created: datetime, cap: int) -> None:
    policy = BoundsPolicy(max_duration_seconds=cap)
    deadline = policy.length_deadline(created)
    assert deadline == (created + timedelta(seconds=cap) if cap else None)
    assert ends_at(deadline, None) == deadline
    assert ends_at(None, None) is None


def test_a_users_own_allowance_overrides_the_default_and_zero_is_none() -> None:
    policy = BoundsPolicy(usage_limit_minutes=30, usage_period=UsagePeriod.WEEK)
    assert policy.allowance(None) is not None
    assert policy.allowance(None).limit_seconds == 1800  # type: ignore[union-attr]
    assert policy.allowance(5).limit_seconds == 300  # type: ignore[union-attr]
    assert policy.allowance(0).limit_seconds == 0  # type: ignore[union-attr]  # a user's own 0: no minutes
    assert BoundsPolicy().allowance(None) is None  # the default 0: no allowance at all


@given(moments, st.integers(1, 10**6))
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(now: datetime, ms: int) -> None:
    waited = seconds_until(now + timedelta(milliseconds=ms), now)
    assert waited >= 1
    assert waited * 1000 >= ms
    assert (waited - 1) * 1000 < ms or waited == 1
