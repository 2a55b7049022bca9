"""API keys (hashed, constant-time checks) and token-bucket rate limits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nacre.errors import ConfigError
from nacre.serve import KeyRing, RateLimiter, hash_key, load_api_keys, parse_key_entries

KEY = "nacre-test-key-0123456789"
OTHER = "another-test-key-9876543210"


def test_hash_is_sha256_hex() -> None:
    assert hash_key(KEY) == hashlib.sha256(KEY.encode()).hexdigest()


def test_entries_accept_raw_and_hashed_keys_skip_comments_and_dedupe() -> None:
    text = f"# clients\n{KEY}, sha256:{hash_key(OTHER).upper()}\n\n{KEY}\n"
    assert parse_key_entries(text, where="test") == (hash_key(KEY), hash_key(OTHER))


@pytest.mark.parametrize(("entry", "needle"), [("short", "at least 16"), ("sha256:abc", "64 hex")])
def test_bad_entries_are_config_errors(entry: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_key_entries(entry, where="NACRE_API_KEYS")


def test_keys_from_env_and_file(tmp_path: Path) -> None:
    file = tmp_path / "keys.txt"
    file.write_text(f"sha256:{hash_key(OTHER)}\n")
    assert load_api_keys(file, environ={"NACRE_API_KEYS": KEY}) == (hash_key(KEY), hash_key(OTHER))
    assert load_api_keys(None, environ={}) == ()
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no keys"):
        load_api_keys(empty, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_api_keys(tmp_path / "missing.txt", environ={})


def test_key_ring_identifies_by_hash_only() -> None:
    ring = KeyRing([hash_key(KEY), hash_key(OTHER)])
    assert ring.required
    assert ring.identify(f"Bearer {KEY}") == hash_key(KEY)[:12]
    assert ring.identify(f"bearer   {OTHER}") == hash_key(OTHER)[:12]
    for bad in (None, "", KEY, f"Basic {KEY}", "Bearer ", f"Bearer {KEY}x"):
        assert ring.identify(bad) is None
    assert KeyRing([]).identify(None) == "anonymous"


@given(st.text(max_size=200))
def test_key_ring_never_raises(header: str) -> None:
    assert KeyRing([hash_key(KEY)]).identify(header) in (None, hash_key(KEY)[:12])


@given(st.text(max_size=300))
def test_key_parsing_raises_only_config_errors(text: str) -> None:
    try:
        digests = parse_key_entries(text, where="x")
    except ConfigError:
        return
    assert all(len(d) == 64 for d in digests)


def test_token_bucket_allows_burst_then_refills() -> None:
    now = [100.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    wait = limiter.acquire("a")
    assert wait == pytest.approx(1.0)
    assert limiter.acquire("b") == 0  # buckets are per key
    now[0] += 1.0
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0


def test_token_bucket_forgets_least_recent_keys() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=lambda: 0.0, max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.acquire(key) == 0
    assert limiter.acquire("a") == 0  # evicted, so it starts full again
    assert limiter.acquire("c") > 0
