"""Chat models: the :class:`ChatModel` protocol and providers resolved from model strings.

Examples:
    >>> from nacre.models import get_model
    >>> model = get_model("mock/echo")
    >>> model.model_id
    'mock/echo'
"""

from nacre.models._cache import CachedChatModel, ResponseCache, cache_key
from nacre.models._embedded import EmbeddedChatModel, EmbeddedProvider, locate_model
from nacre.models._mock import MockChatModel, MockProvider, mock_scripts, schema_example
from nacre.models._openai import OpenAIChatModel, OpenAIProvider
from nacre.models._registry import ModelSettings, Provider, get_model, parse_model_string, providers
from nacre.models._retry import RetryPolicy
from nacre.models._types import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk, Usage

__all__ = [
    "CachedChatModel",
    "Capabilities",
    "ChatModel",
    "Completion",
    "EmbeddedChatModel",
    "EmbeddedProvider",
    "GenerationConfig",
    "MockChatModel",
    "MockProvider",
    "ModelSettings",
    "OpenAIChatModel",
    "OpenAIProvider",
    "Provider",
    "ResponseCache",
    "RetryPolicy",
    "StreamChunk",
    "Usage",
    "cache_key",
    "get_model",
    "locate_model",
    "mock_scripts",
    "parse_model_string",
    "providers",
    "schema_example",
]
