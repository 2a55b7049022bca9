"""The one error hierarchy of nacre.

Every error a user can cause or fix derives from :class:`NacreError`, and its message says what to do. The CLI
prints these as one line without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nacre.models import Completion


class NacreError(Exception):
    """Base class for errors a user can act on."""


class ConversationError(NacreError, ValueError):
    """A message or conversation has an invalid shape.

    Attributes:
        field: Dotted path of the offending field, e.g. ``messages[2].role``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid conversation: {field}: {problem}")


class ConfigError(NacreError, ValueError):
    """A setting, flag or config file is invalid."""


class ModelError(NacreError):
    """Base class for errors raised by chat-model providers."""


class UnknownProviderError(ModelError, ValueError):
    """A model string names a provider that is not registered."""


class MissingExtraError(ModelError, ImportError):
    """An optional dependency (a pip extra) needed by a provider is not installed."""


class ModelUnavailableError(ModelError):
    """The model cannot be reached or loaded (bad URL, server down, model file missing)."""


class ModelRequestError(ModelError):
    """The model endpoint rejected a request, or kept failing after retries."""


class ModelRejectedError(ModelRequestError):
    """The model refused this one request (an HTTP 4xx other than 429, a prompt longer than its context).

    Another request may well succeed, so batch jobs skip the item instead of stopping.
    """


class StructuredOutputError(ModelError):
    """The model's reply to a JSON-schema request was not valid JSON.

    Attributes:
        completion: The reply as the model returned it (text, usage, latency), where the provider has one.
    """

    def __init__(self, message: str, completion: Completion | None = None) -> None:
        super().__init__(message)
        self.completion = completion


class StoreError(NacreError):
    """The SQLite store cannot be opened or used."""


class SchemaVersionError(StoreError):
    """The store was written by a nacre with a schema this version cannot read."""


class RunBusyError(StoreError):
    """A run cannot be resumed because another live process is running it."""


class UnknownRunError(StoreError, KeyError):
    """A run id does not exist in the store."""

    def __str__(self) -> str:
        # KeyError quotes its argument; keep the plain message for the CLI.
        return str(self.args[0]) if self.args else ""
