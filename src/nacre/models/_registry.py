"""Resolving model strings (``provider/name``) to chat models, with providers from entry points.

Built-in providers are listed here. Other packages add providers through the entry-point group ``nacre`` with
entry names ``provider.<name>`` pointing at a class that satisfies :class:`Provider`. Nothing is registered by
import side effect, so there is no global registry to mutate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import ClassVar, Protocol

from nacre.errors import ConfigError, UnknownProviderError
from nacre.models._types import ChatModel

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nacre"
_PROVIDER_PREFIX = "provider."


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Connection settings shared by providers; each uses what applies to it.

    Attributes:
        base_url: Endpoint of an OpenAI-compatible server (``openai`` provider).
        api_key: API key; when unset, providers read their own environment variables.
        timeout_s: Per-request timeout in seconds.
        max_retries: Retries for server errors, timeouts and connection errors (429s are waited out separately).
        options: Provider-specific string options (e.g. ``n_ctx`` for the embedded provider).
    """

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelSettings:
        """Read ``NACRE_BASE_URL``, ``NACRE_API_KEY``, ``NACRE_TIMEOUT`` and ``NACRE_MAX_RETRIES``.

        Args:
            environ: The environment to read; defaults to ``os.environ``.

        Returns:
            Settings with the environment's values, defaults elsewhere.

        Raises:
            ConfigError: If a numeric variable does not parse.
        """
        env = os.environ if environ is None else environ
        settings = cls(base_url=env.get("NACRE_BASE_URL") or None, api_key=env.get("NACRE_API_KEY") or None)
        try:
            if env.get("NACRE_TIMEOUT"):
                settings = replace(settings, timeout_s=float(env["NACRE_TIMEOUT"]))
            if env.get("NACRE_MAX_RETRIES"):
                settings = replace(settings, max_retries=int(env["NACRE_MAX_RETRIES"]))
        except ValueError as exc:
            raise ConfigError(f"bad numeric value in NACRE_TIMEOUT/NACRE_MAX_RETRIES: {exc}") from None
        return settings


class Provider(Protocol):
    """A family of chat models addressed by ``<name>/<model>``.

    Class attributes describe the provider for ``nacre models``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    requires: ClassVar[str]
    example: ClassVar[str]

    @classmethod
    def availability(cls) -> str | None:
        """Return ``None`` if the provider can be used here, else a one-line reason and fix."""
        ...

    @classmethod
    def create(cls, model: str, settings: ModelSettings) -> ChatModel:
        """Create a chat model for ``model`` (the part after ``provider/``)."""
        ...


def _builtin_providers() -> dict[str, type[Provider]]:
    from nacre.models._embedded import EmbeddedProvider
    from nacre.models._mock import MockProvider
    from nacre.models._openai import OpenAIProvider

    return {p.name: p for p in (OpenAIProvider, EmbeddedProvider, MockProvider)}


def providers() -> dict[str, type[Provider]]:
    """Return every known provider by name: the built-ins, then those from entry points.

    A broken third-party entry point is logged and skipped; it never hides the built-ins.
    """
    found = _builtin_providers()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if not ep.name.startswith(_PROVIDER_PREFIX):
            continue
        name = ep.name.removeprefix(_PROVIDER_PREFIX)
        if name in found:
            logger.warning("entry point %s ignored: provider %r is built in", ep.value, name)
            continue
        try:
            found[name] = ep.load()
        except Exception:  # a third-party plugin may fail in any way
            logger.exception("could not load model provider %r from %s", name, ep.value)
    return found


def parse_model_string(spec: str) -> tuple[str, str]:
    """Split ``provider/model`` into its two parts.

    Args:
        spec: A model string such as ``openai/gpt-4o-mini`` or ``embedded/smollm2-135m``.

    Returns:
        ``(provider, model)``; the model part may itself contain slashes.

    Raises:
        ConfigError: If the string is not of that form.
    """
    provider, sep, model = spec.strip().partition("/")
    if not sep or not provider or not model:
        raise ConfigError(
            f"model string {spec!r} is not of the form provider/model "
            "(e.g. openai/gpt-4o-mini, embedded/smollm2-135m, mock/echo)"
        )
    return provider, model


def get_model(spec: str, settings: ModelSettings | None = None) -> ChatModel:
    """Create the chat model named by a model string.

    Args:
        spec: ``provider/model``, e.g. ``openai/gpt-4o-mini``.
        settings: Connection settings; defaults to :meth:`ModelSettings.from_env`.

    Returns:
        A ready-to-use chat model (heavy resources load lazily on first use).

    Raises:
        UnknownProviderError: If no provider has that name.
        MissingExtraError: If the provider needs an extra that is not installed.
        ConfigError: If the model string or settings are invalid.
    """
    provider_name, model = parse_model_string(spec)
    known = providers()
    provider = known.get(provider_name)
    if provider is None:
        raise UnknownProviderError(
            f"unknown model provider {provider_name!r} in {spec!r}; known: {', '.join(sorted(known))} "
            "(run `nacre models`)"
        )
    return provider.create(model, settings if settings is not None else ModelSettings.from_env())
