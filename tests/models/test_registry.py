from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest

from nacre.errors import ConfigError, UnknownProviderError
from nacre.models import ChatModel, MockChatModel, ModelSettings, _registry, get_model, parse_model_string, providers


class AcmeProvider:
    name: ClassVar[str] = "acme"
    description: ClassVar[str] = "test provider from an entry point"
    requires: ClassVar[str] = "nothing"
    example: ClassVar[str] = "acme/x"

    @classmethod
    def availability(cls) -> str | None:
        return None

    @classmethod
    def create(cls, model: str, settings: ModelSettings) -> ChatModel:
        return MockChatModel(f"acme-{model}", replies=["from acme"])


def test_parse_model_string() -> None:
    assert parse_model_string("openai/gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert parse_model_string("openai/meta-llama/Llama-3-8B") == ("openai", "meta-llama/Llama-3-8B")
    for bad in ("gpt-4o", "/x", "openai/", ""):
        with pytest.raises(ConfigError):
            parse_model_string(bad)


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(UnknownProviderError, match="known: embedded, mock, openai"):
        get_model("nope/model", ModelSettings())


def test_entry_point_providers_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint(name="provider.acme", value=f"{__name__}:AcmeProvider", group="nacre"),
        EntryPoint(name="provider.broken", value="no_such_module_xyz:Thing", group="nacre"),
        EntryPoint(name="provider.mock", value=f"{__name__}:AcmeProvider", group="nacre"),
        EntryPoint(name="judge.other", value="no_such_module_xyz:Thing", group="nacre"),
    ]
    monkeypatch.setattr(_registry, "entry_points", lambda group: [e for e in eps if e.group == group])
    found = providers()
    assert found["acme"] is AcmeProvider
    assert "broken" not in found  # logged and skipped
    assert found["mock"].__name__ == "MockProvider"  # built-ins cannot be shadowed
    assert get_model("acme/thing", ModelSettings()).model_id == "mock/acme-thing"


def test_settings_from_env() -> None:
    s = ModelSettings.from_env({"NACRE_BASE_URL": "http://h:1/v1", "NACRE_TIMEOUT": "5", "NACRE_MAX_RETRIES": "0"})
    assert (s.base_url, s.timeout_s, s.max_retries) == ("http://h:1/v1", 5.0, 0)
    with pytest.raises(ConfigError):
        ModelSettings.from_env({"NACRE_TIMEOUT": "soon"})
