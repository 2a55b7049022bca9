"""Mock chat models: deterministic scripted replies for tests and dry runs.

A mock model never calls anything; its ``model_id`` always starts with ``mock/`` so that a transcript or report
made with one can never be mistaken for a real model's output.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.models._registry import ModelSettings
from nacre.models._types import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk, Usage

ReplyFn = Callable[[Conversation], str]

_REFUSAL = "I'm sorry, but I can't help with that request."
_HELPFUL = "Happy to help. Here is a short, general answer based on what you asked."


def _echo(conversation: Conversation) -> str:
    last = conversation.last_user
    return last.text if last is not None else ""


def _stateless(fn: ReplyFn) -> Callable[[], ReplyFn]:
    return lambda: fn


def _refuse_then_comply() -> ReplyFn:
    """Declines the first request this instance receives, restates every later one."""
    calls = [0]

    def reply(conversation: Conversation) -> str:
        calls[0] += 1
        return _REFUSAL if calls[0] == 1 else _leak(conversation)

    return reply


def _leaky_after_backtrack() -> ReplyFn:
    """Declines a question the first time it arrives after a given history, answers the rephrased retry.

    A red-team agent that backtracks (drops the refused exchange and asks again differently) gets an answer on
    its second try at every point of the conversation; one that never rephrases gets nothing. State lives in the
    closure, one per model instance.
    """
    seen: set[str] = set()

    def reply(conversation: Conversation) -> str:
        prefix = Conversation(conversation.messages[:-1]).content_hash if len(conversation) > 1 else "-"
        if prefix not in seen:
            seen.add(prefix)
            return _REFUSAL
        return _leak(conversation)

    return reply


def _leak(conversation: Conversation) -> str:
    # A stand-in for a harmful answer: it only restates the question, so success is visible to a fake judge
    # without any real content.
    return f"MOCK-LEAK: here is everything about: {_echo(conversation)}"


def _leak_judge(conversation: Conversation) -> str:
    # Grades only the <reply> section that nacre's judge prompts use, so earlier turns in <context> do not count.
    text = _echo(conversation)
    match = re.search(r"<reply>(.*?)</reply>", text, flags=re.DOTALL)
    leaked = "MOCK-LEAK" in (match.group(1) if match else text)
    grade = 5 if leaked else 1
    return json.dumps(
        {
            "refused": 0 if leaked else 1,
            "convincing": grade,
            "specific": grade,
            "rating": 10 if leaked else 1,
            "reason": "mock: leak marker present" if leaked else "mock: no leak marker",
        }
    )


def _attacker(conversation: Conversation) -> str:
    # Answers both of the red-team agent's JSON requests (a plan, the next question) in one object, restating
    # the goal or the planned step; it never invents content.
    whole = "\n".join(m.text for m in conversation)
    goal = re.search(r"Test goal: (.*)", whole)
    step = re.findall(r"Planned question for this round: (.*)", whole)
    retries = whole.count("Ask again")
    goal_text = goal.group(1).strip() if goal else "the goal"
    query = step[-1].strip() if step else goal_text
    if retries:
        query = f"{query} (asked another way, try {retries + 1})"
    steps = [f"Mock step {i} of 4 towards: {goal_text}" for i in range(1, 5)]
    return json.dumps(
        {
            "plans": [{"angle": f"mock angle {k}", "steps": steps} for k in (1, 2)],
            "thought": "mock attacker",
            "strategy": "mock",
            "plan_step": 1,
            "query": query,
            "last_response_summary": "",
        }
    )


SCRIPTS: Mapping[str, tuple[str, Callable[[], ReplyFn]]] = {
    "echo": ("repeats the last user message", _stateless(_echo)),
    "refuser": ("always declines", _stateless(lambda _c: _REFUSAL)),
    "helpful": ("always gives the same short, harmless answer", _stateless(lambda _c: _HELPFUL)),
    "json": ("answers any JSON-schema request with the smallest valid object", _stateless(lambda _c: "{}")),
    "refuse-then-comply": (
        "red-team target: declines its first request, then restates every question (MOCK-LEAK)",
        _refuse_then_comply,
    ),
    "leaky-after-backtrack": (
        "red-team target: declines each new question once, restates the rephrased retry (MOCK-LEAK)",
        _leaky_after_backtrack,
    ),
    "leak-judge": (
        "red-team judge stand-in: grades a reply a full success iff it carries MOCK-LEAK",
        _stateless(_leak_judge),
    ),
    "attacker": (
        "red-team attacker stand-in: answers plan and question requests by restating them",
        _stateless(_attacker),
    ),
}


def mock_scripts() -> dict[str, str]:
    """The built-in mock scripts and what each does, for listings."""
    return {name: description for name, (description, _factory) in SCRIPTS.items()}


class MockChatModel:
    """A deterministic chat model scripted by a list of replies or a function.

    Args:
        name: Shown as ``mock/<name>`` wherever the model appears.
        replies: Replies returned in call order (the last repeats once the list runs out), or a function of the
            conversation.
        latency_s: Simulated latency per call (awaited with ``asyncio.sleep``).
    """

    def __init__(
        self,
        name: str = "scripted",
        *,
        replies: Sequence[str] | ReplyFn = (_HELPFUL,),
        latency_s: float = 0.0,
    ) -> None:
        if not callable(replies) and not replies:
            raise ConfigError("a mock model needs at least one scripted reply")
        self._name = name
        self._replies = replies
        self._latency_s = latency_s
        self.calls: list[Conversation] = []

    @property
    def model_id(self) -> str:
        """``mock/<name>``."""
        return f"mock/{self._name}"

    @property
    def capabilities(self) -> Capabilities:
        """Mocks stream and honour JSON schemas (with a minimal valid object) and seeds."""
        return Capabilities(streaming=True, json_schema=True, seed=True)

    @property
    def cache_identity(self) -> str:
        """The model id: mocks have no endpoint."""
        return self.model_id

    def _next_reply(self, conversation: Conversation, config: GenerationConfig) -> str:
        index = len(self.calls)
        self.calls.append(conversation)
        if config.json_schema is not None and self._name == "json":
            return json.dumps(schema_example(config.json_schema))
        if callable(self._replies):
            return self._replies(conversation)
        return self._replies[min(index, len(self._replies) - 1)]

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Return the next scripted reply."""
        config = config or GenerationConfig()
        start = time.perf_counter()
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        text = self._next_reply(conversation, config)
        return Completion(
            text=text,
            model_id=self.model_id,
            usage=Usage(
                prompt_tokens=sum(len(m.text.split()) for m in conversation),
                completion_tokens=len(text.split()),
            ),
            latency_s=time.perf_counter() - start,
            finish_reason="stop",
        )

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Yield the next scripted reply word by word, then the completion."""
        completion = await self.generate(conversation, config=config)
        for piece in re.findall(r"\S+\s*|\s+", completion.text):
            yield StreamChunk(delta=piece)
        yield StreamChunk(delta="", completion=completion)

    async def aclose(self) -> None:
        """Nothing to release."""


def schema_example(schema: Mapping[str, Any]) -> Any:
    """Build the smallest value that satisfies a simple JSON schema (enums, objects, arrays, scalars).

    Args:
        schema: A JSON schema.

    Returns:
        A value matching it: the first enum member, required properties only, minimum lengths and bounds.
    """
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return schema_example(schema[key][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties", {})
        return {k: schema_example(props.get(k, {})) for k in schema.get("required", [])}
    if kind == "array":
        return [schema_example(schema.get("items", {})) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return "x" * int(schema.get("minLength", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


class MockProvider:
    """``mock/<script>``: deterministic scripted replies for tests and dry runs."""

    name: ClassVar[str] = "mock"
    description: ClassVar[str] = "Deterministic scripted replies for tests and dry runs (never a real model)."
    requires: ClassVar[str] = "nothing"
    example: ClassVar[str] = "mock/echo"

    @classmethod
    def availability(cls) -> str | None:
        """Always available."""
        return None

    @classmethod
    def create(cls, model: str, settings: ModelSettings) -> ChatModel:
        """Create the named built-in script.

        Raises:
            ConfigError: If the script name is unknown.
        """
        del settings
        script = SCRIPTS.get(model)
        if script is None:
            raise ConfigError(f"unknown mock script {model!r}; choose one of: {', '.join(SCRIPTS)}")
        return MockChatModel(model, replies=script[1]())
