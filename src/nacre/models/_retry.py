"""Back-off arithmetic shared by network providers."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a provider retries.

    Rate limiting (HTTP 429) is a normal condition, not a failure: it is waited out under its own, larger budget
    and never consumes ``max_retries``.

    Attributes:
        max_retries: Retries for server errors (5xx), timeouts and connection errors.
        max_rate_limit_waits: How many 429 answers to wait out before giving up.
        base_delay_s: First back-off delay; doubles each attempt.
        max_delay_s: Cap on any single delay, ``Retry-After`` included.
    """

    max_retries: int = 3
    max_rate_limit_waits: int = 30
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None = None, *, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based) is retried.

        Args:
            attempt: How many times this kind of error has happened so far.
            retry_after_s: The server's ``Retry-After``, which wins when present.
            rng: Random source for jitter (tests pass a seeded one).

        Returns:
            The delay, with up to 25 % jitter so concurrent clients do not retry in lockstep.
        """
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.max_delay_s)
        base = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        jitter: float = (rng or random.Random()).random()
        return base * (1 + 0.25 * jitter)


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header given in seconds; HTTP dates and junk give ``None``."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
