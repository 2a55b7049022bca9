"""Client API keys (kept only as SHA-256 digests, compared in constant time) and per-key token-bucket rate limits."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from nacre.errors import ConfigError

KEYS_ENV = "NACRE_API_KEYS"
HASH_PREFIX = "sha256:"
MIN_KEY_CHARS = 16
ANONYMOUS = "anonymous"
_HEX = frozenset("0123456789abcdef")


def hash_key(key: str) -> str:
    """The SHA-256 hex digest of an API key: the only form in which keys are stored.

    Args:
        key: The raw key.

    Returns:
        64 lowercase hex characters.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(digest: str) -> str:
    """A short, non-secret label for a key (its digest's first 12 hex characters), for logs and the audit log."""
    return digest[:12]


def parse_key_entries(text: str, *, where: str) -> tuple[str, ...]:
    """Parse keys separated by commas or newlines into digests.

    An entry ``sha256:<64 hex>`` is taken as an already-hashed key, so that a key file need not hold raw keys.
    Blank entries and lines starting with ``#`` are skipped.

    Args:
        text: The entries.
        where: Where they came from, for error messages.

    Returns:
        The distinct digests, in order.

    Raises:
        ConfigError: If a raw key is shorter than 16 characters or a ``sha256:`` entry is not 64 hex characters.
    """
    digests: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for raw in line.split(","):
            entry = raw.strip()
            if not entry:
                continue
            if entry.lower().startswith(HASH_PREFIX):
                digest = entry[len(HASH_PREFIX) :].lower()
                if len(digest) != 64 or not set(digest) <= _HEX:
                    raise ConfigError(f"{where}: a {HASH_PREFIX} entry must be followed by 64 hex characters")
            elif len(entry) < MIN_KEY_CHARS:
                raise ConfigError(
                    f"{where}: API keys must be at least {MIN_KEY_CHARS} characters (generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
            else:
                digest = hash_key(entry)
            if digest not in digests:
                digests.append(digest)
    return tuple(digests)


def load_api_keys(file: Path | None = None, *, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Read client API keys from ``NACRE_API_KEYS`` and an optional key file, and hash them.

    Args:
        file: A file with one key (or ``sha256:<hex>`` digest) per line.
        environ: The environment; defaults to ``os.environ``.

    Returns:
        The distinct digests from both sources.

    Raises:
        ConfigError: If the file cannot be read, holds no key, or an entry is malformed.
    """
    env = os.environ if environ is None else environ
    digests = list(parse_key_entries(env.get(KEYS_ENV, ""), where=KEYS_ENV))
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the API key file {file}: {exc}") from None
        from_file = parse_key_entries(text, where=str(file))
        if not from_file:
            raise ConfigError(f"the API key file {file} holds no keys")
        digests += [d for d in from_file if d not in digests]
    return tuple(digests)


class KeyRing:
    """Checks presented API keys against stored digests.

    Args:
        digests: SHA-256 hex digests of the accepted keys; empty means no key is required.
    """

    def __init__(self, digests: Iterable[str]) -> None:
        self._digests = tuple(bytes.fromhex(d) for d in digests)

    @property
    def required(self) -> bool:
        """Whether a key must be presented."""
        return bool(self._digests)

    def identify(self, authorization: str | None) -> str | None:
        """The key id of a valid ``Authorization: Bearer <key>`` header.

        Every stored digest is compared, with :func:`hmac.compare_digest`, so the time taken does not tell which
        key (if any) was close.

        Args:
            authorization: The header value, or ``None`` if absent.

        Returns:
            The key id, :data:`ANONYMOUS` when no keys are configured, or ``None`` if the key is missing or wrong.
        """
        if not self._digests:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        match: bytes | None = None
        for digest in self._digests:
            if hmac.compare_digest(digest, presented):
                match = digest
        return key_id(match.hex()) if match is not None else None


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_minute`` per minute.

    Args:
        per_minute: Sustained requests per minute per key.
        burst: Bucket capacity.
        clock: Monotonic seconds (tests inject their own).
        max_keys: Most buckets kept; the least recently used is dropped beyond (it starts full again).
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ConfigError("rate limits need a positive rate and a burst of at least 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``.

        Args:
            key: The key id (or client address for anonymous use).

        Returns:
            0.0 if the request may proceed, else the seconds until a token is available.
        """
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait
