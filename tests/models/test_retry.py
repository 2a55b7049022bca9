from __future__ import annotations

import random

from nacre.models import RetryPolicy
from nacre.models._retry import parse_retry_after


def test_delay_doubles_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=5.0)
    rng = random.Random(0)
    delays = [policy.delay(n, rng=rng) for n in (1, 2, 3, 4, 5)]
    for n, d in zip((1, 2, 3), delays, strict=False):
        assert 2 ** (n - 1) <= d <= 1.25 * 2 ** (n - 1)
    assert all(d <= 5.0 * 1.25 for d in delays)


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(max_delay_s=10.0)
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(1, 99.0) == 10.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-1") is None
