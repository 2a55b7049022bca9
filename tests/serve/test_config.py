"""Settings: loopback detection, keys required off loopback, one clear error for bad values."""

from __future__ import annotations

import pytest

from nacre.errors import ConfigError
from nacre.serve import ServeConfig, hash_key, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_bind_without_keys_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        ServeConfig.build(upstream_url="http://127.0.0.1:9/v1", upstream_model="m", host="0.0.0.0")
    config = ServeConfig.build(
        upstream_url="http://127.0.0.1:9/v1", upstream_model="m", host="0.0.0.0", api_key_hashes=(hash_key("k" * 20),)
    )
    assert config.auth_required


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"upstream_url": "ftp://x/v1", "upstream_model": "m"}, "must look like http://host:port/v1"),
        ({"upstream_url": "http://user:secret@x/v1", "upstream_model": "m"}, "NACRE_UPSTREAM_API_KEY"),
        ({"upstream_url": "http://x/v1"}, "needs the upstream model name"),
        ({"upstream_url": "http://x/v1", "upstream_model": "m", "embedded": True}, "not both"),
        ({"port": 70000}, "port"),
        ({"audit_content": "some"}, "audit_content"),
        ({"api_key_hashes": ("abc",)}, "64 lowercase hex"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_settings_raise_one_config_error(values: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match="invalid serve settings") as info:
        ServeConfig.build(**values)
    assert needle in str(info.value)


def test_upstream_key_is_never_shown() -> None:
    config = ServeConfig.build(upstream_url="http://x:1/v1", upstream_model="m", upstream_api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(config) and "sk-very-secret" not in str(config.model_dump())


def test_burst_defaults_to_ten_seconds_of_rate() -> None:
    assert ServeConfig.build(rate_limit_per_minute=60).burst == 10
    assert ServeConfig.build(rate_limit_per_minute=1).burst == 1
    assert ServeConfig.build(rate_limit_per_minute=60, rate_limit_burst=3).burst == 3
