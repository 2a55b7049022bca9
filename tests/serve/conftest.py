"""Shared fixtures: one guard for the whole run, a mock OpenAI-compatible upstream, proxies on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from nacre.conversation import Conversation
from nacre.guard import Guard, GuardConfig
from nacre.serve import BackgroundServer, MockUpstream, ServeConfig, create_app

UPSTREAM_MODEL = "mock-model"


@pytest.fixture(scope="session")
def guard() -> Guard:
    """The shipped assessor and policy (a few seconds to load; shared by every test)."""
    the_guard = Guard.default(config=GuardConfig(locale="US"))
    the_guard.decide_sync(Conversation.from_text("Hello!"))  # loads the embedder once, up front
    return the_guard


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[tuple[MockUpstream, str]]:
    """A real OpenAI-compatible HTTP server on loopback; yields the app (to read its requests) and its /v1 URL."""
    upstream = MockUpstream(model=UPSTREAM_MODEL)
    # Critical only: the "die mid-stream" tests make uvicorn log a traceback on purpose.
    with BackgroundServer(upstream, log_level="critical") as url:
        yield upstream, f"{url}/v1"


@contextmanager
def running(config: ServeConfig, guard: Guard, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Serve a proxy app on a free loopback port; yields its base URL and the app."""
    app = create_app(config, guard=guard, **kwargs)
    with BackgroundServer(app) as url:
        yield url, app
