"""The guard as an OpenAI-compatible proxy server (``nacre serve``); needs the ``serve`` extra.

Examples:
    >>> from nacre.serve import ServeConfig, create_app
    >>> config = ServeConfig.build(upstream_url="http://127.0.0.1:11434/v1", upstream_model="llama3.2")
    >>> app = create_app(config)  # doctest: +SKIP
"""

from nacre.serve._app import build_upstream, create_app
from nacre.serve._audit import AuditLog, AuditRecord, render_content
from nacre.serve._auth import KeyRing, RateLimiter, hash_key, load_api_keys, parse_key_entries
from nacre.serve._config import AUDIT_CONTENTS, AuditContent, ServeConfig, is_loopback
from nacre.serve._decision import Verdict
from nacre.serve._errors import APIError, error_body
from nacre.serve._generator import UpstreamChatModel
from nacre.serve._metrics import Metrics
from nacre.serve._mock_upstream import MockUpstream
from nacre.serve._schemas import AssessRequest, ChatCompletionRequest
from nacre.serve._thread import BackgroundServer
from nacre.serve._upstream import HTTPUpstream, ModelUpstream, Upstream, UpstreamError, UpstreamStream

__all__ = [
    "AUDIT_CONTENTS",
    "APIError",
    "AssessRequest",
    "AuditContent",
    "AuditLog",
    "AuditRecord",
    "BackgroundServer",
    "ChatCompletionRequest",
    "HTTPUpstream",
    "KeyRing",
    "Metrics",
    "MockUpstream",
    "ModelUpstream",
    "RateLimiter",
    "ServeConfig",
    "Upstream",
    "UpstreamChatModel",
    "UpstreamError",
    "UpstreamStream",
    "Verdict",
    "build_upstream",
    "create_app",
    "error_body",
    "hash_key",
    "is_loopback",
    "load_api_keys",
    "parse_key_entries",
    "render_content",
]
