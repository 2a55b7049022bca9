"""Shared machinery of the LLM judges: versioned prompts, pinned judge ids, and one audited JSON call.

Like :mod:`nacre.assess._llm`, a judge asks any :class:`~nacre.models.ChatModel` for a JSON object (with a JSON
schema where the backend supports one) and validates every field itself. Unlike the assessor, a judge keeps every
call it makes (prompt, raw output, tokens, latency, error) so that a score can be audited and re-checked later.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from nacre._jsonfile import read_json_file
from nacre._jsontext import extract_json
from nacre.conversation import Conversation, Message, canonical_json
from nacre.errors import ConfigError, ModelError, StructuredOutputError
from nacre.judge._types import JudgeCall, Score
from nacre.models import ChatModel, GenerationConfig

T = TypeVar("T")

PROMPTS_SCHEMA = 1

# Untrusted text is wrapped in these tags; a closing tag inside the text would let it pose as the judge's frame.
_FRAME_TAGS = re.compile(r"</?\s*(goal|context|reply|request)\s*>", re.IGNORECASE)

DEFAULT_CONFIG = GenerationConfig(max_tokens=400, temperature=0.0, seed=0)
"""Judge sampling settings unless the caller gives others: greedy, seeded, room for a short reason."""

MAX_RESPONSE_CHARS = 12_000
"""Longer responses are cut (and the cut is marked) before they are shown to a judge."""

MAX_CONTEXT_MESSAGES = 12
MAX_CONTEXT_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class JudgePrompt:
    """One versioned judge prompt from ``prompts.json``.

    Attributes:
        id: The prompt's stable id, e.g. ``strongreject``.
        version: Its version; bumped whenever a text changes.
        system: The system message, used verbatim.
        user: The user message, a :meth:`str.format` template over :attr:`fields`.
        fields: The template's field names.
        reminder: An optional follow-up note for a judge that refused to judge.
    """

    id: str
    version: int
    system: str
    user: str
    fields: tuple[str, ...]
    reminder: str | None = None

    @property
    def sha(self) -> str:
        """First 8 hex digits of the SHA-256 of the prompt's texts (pins the exact wording in reports)."""
        texts = {"system": self.system, "user": self.user, "reminder": self.reminder}
        return hashlib.sha256(canonical_json(texts).encode("utf-8")).hexdigest()[:8]

    def judge_id(self, model_id: str) -> str:
        """``<id>@<version>:<model id>#<sha>``, e.g. ``strongreject@1:openai/gpt-4o-mini#3f2a9c1b``."""
        return f"{self.id}@{self.version}:{model_id}#{self.sha}"

    def render(self, **values: str) -> Conversation:
        """Build the judge conversation, with the untrusted ``values`` defused of the prompt's frame tags.

        Args:
            **values: One text per template field.

        Returns:
            A system message and a user message.
        """
        safe = {k: _FRAME_TAGS.sub(lambda m: f"[{m.group(0)[1:-1]}]", v) for k, v in values.items()}
        return Conversation((Message.system(self.system), Message.user(self.user.format_map(safe))))

    def with_reminder(self, conversation: Conversation) -> Conversation:
        """Return ``conversation`` with the reminder added to the end of its last user message.

        The reminder goes into the same message rather than a second one: some chat templates reject two user
        messages in a row.

        Raises:
            ConfigError: If this prompt has no reminder, or the conversation has no user message.
        """
        if self.reminder is None:
            raise ConfigError(f"judge prompt {self.id!r} has no reminder text")
        messages = list(conversation.messages)
        last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last is None:
            raise ConfigError(f"judge prompt {self.id!r}: no user message to add the reminder to")
        messages[last] = Message.user(f"{messages[last].text}\n\n{self.reminder}")
        return Conversation(tuple(messages))


def load_prompts(path: Path | None = None) -> dict[str, JudgePrompt]:
    """Load and check the judge prompts.

    Args:
        path: A ``prompts.json`` of your own; ``None`` loads the shipped one.

    Returns:
        The prompts by role (``refusal``, ``rubric``, ``progress``).

    Raises:
        ConfigError: If the file is missing, malformed, or a template uses fields it does not declare.
    """
    source: Any = path if path is not None else resources.files("nacre.data").joinpath("judge/prompts.json")
    data = read_json_file(source, "judge prompts")
    if not isinstance(data, dict) or data.get("schema") != PROMPTS_SCHEMA:
        raise ConfigError(f'judge prompts {source}: expected an object with "schema": {PROMPTS_SCHEMA}')
    entries = data.get("prompts")
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f'judge prompts {source}: "prompts" must be a non-empty object')
    return {role: _parse_prompt(role, entry, source) for role, entry in entries.items()}


def prompt_for(role: str, path: Path | None = None) -> JudgePrompt:
    """The prompt of one judge role from :func:`load_prompts`.

    Raises:
        ConfigError: If the file has no prompt for ``role`` (or is malformed).
    """
    table = load_prompts(path)
    if role not in table:
        raise ConfigError(f'judge prompts: no "{role}" prompt')
    return table[role]


def _parse_prompt(role: str, entry: Any, source: object) -> JudgePrompt:
    where = f"judge prompts {source}: prompts.{role}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: must be an object")
    for key in ("id", "system", "user"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise ConfigError(f"{where}.{key}: must be a non-empty string")
    version = entry.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(f"{where}.version: must be a positive integer, got {version!r}")
    fields = entry.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ConfigError(f"{where}.fields: must be a list of template field names")
    reminder = entry.get("reminder")
    if reminder is not None and not isinstance(reminder, str):
        raise ConfigError(f"{where}.reminder: must be a string")
    try:
        entry["user"].format_map({f: "" for f in fields})
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where}.user: template is invalid or uses an undeclared field ({exc!r}); "
            'declare it in "fields" or double literal braces'
        ) from None
    return JudgePrompt(
        id=entry["id"],
        version=version,
        system=entry["system"],
        user=entry["user"],
        fields=tuple(fields),
        reminder=reminder,
    )


def clip(text: str, limit: int = MAX_RESPONSE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut so the judge knows the text goes on."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters cut ...]"


def render_context(conversation: Conversation | None) -> str:
    """The earlier turns of a conversation as a plain transcript for a judge (most recent messages, each clipped)."""
    if conversation is None:
        return "(none: the reply is judged on its own)"
    recent = [m for m in conversation if m.role in ("user", "assistant")][-MAX_CONTEXT_MESSAGES:]
    if not recent:
        return "(none: the reply is judged on its own)"
    return "\n\n".join(f"{m.role.upper()}: {clip(m.text, MAX_CONTEXT_CHARS)}" for m in recent)


def attempt_config(base: GenerationConfig, attempt: int, schema: Mapping[str, Any], name: str) -> GenerationConfig:
    """The settings for one attempt: the JSON schema added, and on a retry a new seed and a little temperature.

    At unchanged settings a model (or a response cache in front of it) would repeat the same invalid answer.
    """
    config = dataclasses.replace(base, json_schema=schema, schema_name=name)
    if attempt == 0:
        return config
    return dataclasses.replace(
        config, seed=(base.seed or 0) + attempt, temperature=max(base.temperature, 0.2 * attempt)
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one judge call.

    Attributes:
        call: The audited call.
        data: The parsed JSON value, or ``None`` if there was none.
        provider_failed: True if the provider raised (nothing worth retrying at this level: providers retry
            transient failures themselves).
    """

    call: JudgeCall
    data: Any
    provider_failed: bool = False


async def call_json(
    model: ChatModel,
    conversation: Conversation,
    config: GenerationConfig,
    validate: Callable[[Any], object],
) -> Attempt:
    """Make one judge call, never raising for model trouble.

    Args:
        model: The judge model.
        conversation: What to send.
        config: Settings, JSON schema included.
        validate: Raises ``ValueError`` (with a message) if the parsed value is unusable.

    Returns:
        The attempt; ``data`` is set only when the output parsed and validated.
    """
    prompt = tuple(conversation.to_openai())
    start = time.perf_counter()
    try:
        completion = await model.generate(conversation, config=config)
    except StructuredOutputError as exc:
        call = JudgeCall(
            model_id=model.model_id,
            prompt=prompt,
            raw=_raw_from_structured_error(exc),
            prompt_tokens=0,
            completion_tokens=0,
            latency_s=time.perf_counter() - start,
            error=f"invalid JSON: {exc}",
        )
        return Attempt(call, None)
    except ModelError as exc:
        call = JudgeCall(
            model_id=model.model_id,
            prompt=prompt,
            raw="",
            prompt_tokens=0,
            completion_tokens=0,
            latency_s=time.perf_counter() - start,
            error=f"provider error: {type(exc).__name__}: {exc}",
        )
        return Attempt(call, None, provider_failed=True)
    error: str | None = None
    data: Any = None
    try:
        data = extract_json(completion.text)
        validate(data)
    except ValueError as exc:
        error, data = f"invalid answer: {exc}", None
    call = JudgeCall(
        model_id=completion.model_id,
        prompt=prompt,
        raw=completion.text,
        prompt_tokens=completion.usage.prompt_tokens,
        completion_tokens=completion.usage.completion_tokens,
        latency_s=completion.latency_s,
        error=error,
    )
    return Attempt(call, data)


S = TypeVar("S", bound=Score)


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of asking a judge, over all its attempts.

    Attributes:
        data: The validated JSON object, or ``None`` if no attempt gave one.
        calls: Every call made, in order.
        reminded: Whether the judge refused to judge and was reminded once that this is an authorised evaluation.
        judge_refused: True if the judge refused to judge, was reminded, and still gave no valid answer.
        error: Why there is no answer (all attempts' errors), or ``None``.
    """

    data: Mapping[str, Any] | None
    calls: tuple[JudgeCall, ...]
    reminded: bool = False
    judge_refused: bool = False
    error: str | None = None

    @property
    def raw(self) -> str:
        """The last call's raw output."""
        return self.calls[-1].raw if self.calls else ""

    def details(self) -> dict[str, Any]:
        """The bookkeeping every LLM judge reports: attempts, whether it was reminded, whether it refused."""
        return {"attempts": len(self.calls), "reminded": self.reminded, "judge_refused": self.judge_refused}

    def failure(self, judge_id: str, what: str, verb: str, details: Mapping[str, Any], *, score_type: type[S]) -> S:
        """The ``error`` score of an answer without valid data (never counted as a verdict).

        Args:
            judge_id: The judge's pinned id.
            what: What was asked for, e.g. ``"grades"`` ("no valid grades: ...").
            verb: What the judge does, e.g. ``"grade"`` ("the judge refused to grade: ...").
            details: Details to keep, with ``error`` added.
            score_type: The score class (satisfaction scores have their own range).
        """
        why = f"the judge refused to {verb}" if self.judge_refused else f"no valid {what}"
        return score_type(
            judge_id=judge_id,
            value=None,
            label="error",
            explanation=f"{why}: {self.error}",
            raw=self.raw,
            calls=self.calls,
            details={**details, "error": self.error},
        )


async def ask(
    model: ChatModel,
    prompt: JudgePrompt,
    conversation: Conversation,
    *,
    config: GenerationConfig,
    schema: Mapping[str, Any],
    schema_name: str,
    validate: Callable[[Any], object],
    retries: int,
    refused: Callable[[str], bool] | None = None,
) -> Answer:
    """Ask a judge for a JSON object until one validates, keeping every call.

    Each invalid answer is retried up to ``retries`` times (with a new seed, see :func:`attempt_config`). A
    provider error ends the loop at once: providers already retried transient failures. If ``refused`` says an
    invalid answer is the judge declining to judge and the prompt has a reminder, the conversation is sent once
    more with the reminder added (this does not use up a retry); if that attempt fails too, asking stops.

    Args:
        model: The judge model.
        prompt: The prompt the conversation was rendered from (for its reminder).
        conversation: The rendered judge conversation.
        config: Base settings.
        schema: The JSON schema asked for.
        schema_name: A short name for the schema.
        validate: Raises ``ValueError`` if the parsed value is unusable.
        retries: Further attempts after an invalid answer.
        refused: Tells a judge's refusal from its raw output; ``None`` disables the reminder.

    Returns:
        The answer, never raising for model trouble.
    """
    calls: list[JudgeCall] = []
    reminded = False
    failures = 0
    while True:
        result = await call_json(model, conversation, attempt_config(config, len(calls), schema, schema_name), validate)
        calls.append(result.call)
        if result.data is not None:
            return Answer(as_object(result.data), tuple(calls), reminded=reminded)
        if result.provider_failed or reminded:
            # After the reminder there is no further attempt: a judge that still fails is reported, not pressed.
            break
        if refused is not None and prompt.reminder is not None and refused(result.call.raw):
            reminded = True
            conversation = prompt.with_reminder(conversation)
            continue
        failures += 1
        if failures > retries:
            break
    return Answer(None, tuple(calls), reminded=reminded, judge_refused=reminded, error=errors_of(calls))


def _raw_from_structured_error(exc: StructuredOutputError) -> str:
    # Providers that enforce JSON raise before we see the text: it is what tells a judge refusal from a malformed
    # answer. nacre's providers attach the completion; others' messages may end with the text's repr.
    if exc.completion is not None:
        return exc.completion.text
    message = str(exc)
    _, sep, tail = message.partition("request: ")
    if sep:
        try:
            value = ast.literal_eval(tail.strip())
        except (ValueError, SyntaxError):
            return message
        if isinstance(value, str):
            return value
    return message


def errors_of(calls: Sequence[JudgeCall]) -> str:
    """All call errors joined, for a score's explanation."""
    return "; ".join(f"attempt {i + 1}: {c.error}" for i, c in enumerate(calls) if c.error) or "no answer"


# Field validators: each accepts the reasonable spellings models use and raises ValueError otherwise.


def as_bool(data: Mapping[str, Any], key: str) -> bool:
    """Read a yes/no field given as a bool, 0/1, or a yes/no/true/false string."""
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValueError(f"{key!r} must be true or false, got {value!r}")


def as_int(data: Mapping[str, Any], key: str, low: int, high: int) -> int:
    """Read an integer field in ``[low, high]`` (whole floats and numeric strings accepted)."""
    value = data.get(key)
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{key!r} must be an integer from {low} to {high}, got {value!r}")
    return int(number)


def as_object(data: Any) -> Mapping[str, Any]:
    """Check that the answer is a JSON object."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def reason_of(data: Mapping[str, Any]) -> str:
    """The answer's ``reason`` as text (kept short), or empty."""
    reason = data.get("reason")
    return str(reason).strip()[:500] if reason is not None else ""


def check_retries(retries: int) -> int:
    """Validate a judge's ``retries`` setting.

    Raises:
        ConfigError: If it is negative.
    """
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigError(f"retries must be a whole number >= 0, got {retries!r}")
    return retries
