"""Alarm windows in time buckets: memory bounded by the bucket count, answers within one bucket (issue 14)."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.daemon.alarms.engine import BUCKETS_PER_WINDOW, DoseBudget, TimeWeightedWindow

WEEK_S = 7 * 86400


class ExactWindow:
    """The per-sample reference: every segment kept, the window's start cut exactly."""

    def __init__(self, window_s: float, *, max_gap_s: float):
        self.window_s = window_s
        self.max_gap_s = max_gap_s
        self.segments: deque[tuple[float, float, float]] = deque()
        self.last_t: float | None = None

    def add(self, t: float, value: float) -> None:
        if self.last_t is not None and t > self.last_t:
            self.segments.append((max(self.last_t, t - self.max_gap_s), t, value))
        if self.last_t is None or t > self.last_t:
            self.last_t = t

    def totals(self, t: float) -> tuple[float, float]:
        lo = t - self.window_s
        integral = covered = 0.0
        for start, end, value in self.segments:
            a = max(start, lo)
            if end > a:
                integral += value * (end - a)
                covered += end - a
        return integral, covered


def test_a_one_week_twa_fed_at_1_hz_for_eight_days_holds_at_most_1002_buckets() -> None:
    w = TimeWeightedWindow(WEEK_S, max_gap_s=300, min_coverage=0.5)
    most = 0
    t = 0
    for t in range(1, 8 * 86400 + 1):
        w.add(float(t), 1.0 + (t % 600) / 600)
        if t % 3600 == 0:
            most = max(most, w.bucket_count)
    assert most <= BUCKETS_PER_WINDOW + 2  # against 604 800 segments per-sample
    mean = w.mean(float(t))
    # the signal's mean over whole 600 s periods: 1 + mean of k/600 for k = 0..599
    assert mean is not None and abs(mean - (1 + 599 / 1200)) < 1e-3


def test_a_rolling_13_week_budget_fed_for_100_days_stays_within_its_buckets() -> None:
    b = DoseBudget("year", period="13_weeks", max_gap_s=300, min_elapsed_s=0)
    for t in range(0, 100 * 86400, 60):
        b.add(float(t), 2.0)
        assert b.window is not None
    assert b.window.bucket_count <= BUCKETS_PER_WINDOW + 2
    projected = b.projected_mSv()
    assert projected is not None and abs(projected - 2.0 * 91 * 24 / 1000) < 1e-9


def test_short_windows_with_one_sample_per_bucket_are_exact() -> None:
    w, ref = TimeWeightedWindow(10, max_gap_s=60), ExactWindow(10, max_gap_s=60)
    for t in range(1, 200):
        value = float((t * 7919) % 13)
        w.add(t + 0.25, value)
        ref.add(t + 0.25, value)
        integral, covered = ref.totals(t + 0.25)
        assert w.mean(t + 0.25) == (None if covered <= 0 else pytest.approx(integral / covered, rel=1e-12))


samples = st.lists(
    st.tuples(st.floats(0.05, 400.0), st.floats(0.0, 1000.0)),  # (time since the previous sample, E)
    min_size=2,
    max_size=300,
)


@settings(max_examples=150, deadline=None)
@given(samples, st.sampled_from([60.0, 3600.0, float(WEEK_S)]), st.floats(0.0, 1.0))
def test_bucketed_windows_equal_the_per_sample_computation_within_one_bucket(
    series: list[tuple[float, float]], window_s: float, query_shift: float
) -> None:
    w = TimeWeightedWindow(window_s, max_gap_s=120)
    ref = ExactWindow(window_s, max_gap_s=120)
    t = 1_000_000.0
    for dt, value in series:
        t += dt
        w.add(t, value)
        ref.add(t, value)
    at = t + query_shift * window_s
    integral, covered = ref.totals(at)
    got = w.mean(at)
    if covered <= 0:
        assert got is None
        return
    assert got is not None
    bucket_s = window_s / BUCKETS_PER_WINDOW
    # Only the oldest bucket is split pro rata: its sums are off by at most one bucket's worth.
    vmax = max(v for _, v in series)
    got_covered = w.coverage(at)
    assert abs(got_covered - covered) <= bucket_s + 1e-6 * window_s
    if got_covered > 0:
        assert abs(got - integral / covered) <= 2 * vmax * bucket_s / got_covered + 1e-9 * vmax
