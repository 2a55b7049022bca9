"""What an attack talks to: any chat model, any OpenAI-compatible URL, or a nacre Guard in-process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from nacre.conversation import Conversation
from nacre.errors import ConfigError
from nacre.models import ChatModel, Completion, GenerationConfig, ModelSettings, Usage, get_model

if TYPE_CHECKING:
    from nacre.guard import Guard


@dataclass(frozen=True, slots=True)
class TargetReply:
    """The target's answer to one query.

    Attributes:
        text: The reply.
        completion: The underlying completion (usage, latency, cached flag).
        meta: Target-specific details (a guard's strategy, ...).
    """

    text: str
    completion: Completion
    meta: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    """A system under test. It keeps no hidden state: the attack owns the history and sends all of it."""

    @property
    def target_id(self) -> str:
        """Identifies the target in results."""
        ...

    async def send(self, conversation: Conversation) -> TargetReply:
        """Answer the conversation's last user message."""
        ...


class ModelTarget:
    """A chat model as the target, optionally with a fixed system prompt.

    Args:
        model: The model.
        config: Generation settings (pinned, so results can be reproduced).
        system_prompt: Prepended to every conversation when set.
    """

    def __init__(
        self, model: ChatModel, *, config: GenerationConfig | None = None, system_prompt: str | None = None
    ) -> None:
        self.model = model
        self.config = config or GenerationConfig(max_tokens=512, temperature=0.0, seed=0)
        self.system_prompt = system_prompt

    @property
    def target_id(self) -> str:
        """The model id."""
        return self.model.model_id

    async def send(self, conversation: Conversation) -> TargetReply:
        """Generate the model's reply."""
        if self.system_prompt:
            conversation = conversation.with_system(self.system_prompt)
        completion = await self.model.generate(conversation, config=self.config)
        return TargetReply(completion.text, completion)


class GuardTarget:
    """A nacre :class:`~nacre.guard.Guard` in-process: attack the guarded pipeline, not the bare model."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    @property
    def target_id(self) -> str:
        """``guard:<model id>``."""
        model = self.guard.model
        return f"guard:{model.model_id if model is not None else 'decision-only'}"

    async def send(self, conversation: Conversation) -> TargetReply:
        """Run the whole guard (assess, decide, respond) on the conversation."""
        start = time.perf_counter()
        result = await self.guard.respond(conversation)
        completion = Completion(
            text=result.text,
            model_id=self.target_id,
            usage=Usage(),
            latency_s=time.perf_counter() - start,
            finish_reason="stop",
        )
        meta: dict[str, Any] = {
            "strategy": result.decision.strategy if result.decision is not None else None,
            "fallback": result.fallback,
            "repaired": result.repaired,
            "errors": list(result.errors),
        }
        if result.assessment is not None:
            risk = result.assessment.conversation
            meta.update(
                harm_probability=round(risk.harm_probability, 4),
                category=risk.category,
                severity=risk.severity,
                user_type={k: round(v, 4) for k, v in risk.user_type.items()},
            )
        return TargetReply(result.text, completion, meta=meta)


TargetFactory = Callable[[], Target]


def target_factory(
    spec: str,
    *,
    settings: ModelSettings,
    target_model: str | None = None,
    system_prompt: str | None = None,
    wrap: Callable[[ChatModel], ChatModel] | None = None,
) -> tuple[str, TargetFactory]:
    """Build the target named by a command-line spec.

    Args:
        spec: A model string (``openai/gpt-4o-mini``, ``embedded/smollm2-135m``, ``mock/refuser``), an
            OpenAI-compatible base URL (``http://127.0.0.1:8000/v1``, which needs ``target_model``), or
            ``guard:<model string>`` for a nacre guard in front of that model, in-process.
        settings: Connection settings for model providers.
        target_model: The model name to request from a URL target.
        system_prompt: A fixed system prompt for model targets.
        wrap: Applied to every chat model created (concurrency limits, caching).

    Returns:
        The target's id and a factory. Real targets are shared; ``mock/`` targets get a fresh instance per
        attempt, because some scripted targets remember what they were asked.

    Raises:
        ConfigError: If the spec is incomplete.
    """
    wrap = wrap or (lambda m: m)
    if spec.startswith(("http://", "https://")):
        if not target_model:
            raise ConfigError("a URL target needs --target-model, the model name the server expects")
        model = wrap(get_model(f"openai/{target_model}", replace(settings, base_url=spec)))
        shared_url = ModelTarget(model, system_prompt=system_prompt)
        return shared_url.target_id + f"@{spec}", lambda: shared_url
    if spec.startswith("guard:"):
        from nacre.guard import Guard

        inner = spec.removeprefix("guard:")
        if not inner:
            raise ConfigError("guard: needs a model after it, e.g. guard:embedded/smollm2-135m")
        guard_target = GuardTarget(Guard.default(wrap(get_model(inner, settings))))
        return guard_target.target_id, lambda: guard_target
    if spec.startswith("mock/"):
        get_model(spec, settings)  # fail now, not in the middle of a campaign, if the script is unknown
        return spec, lambda: ModelTarget(wrap(get_model(spec, settings)), system_prompt=system_prompt)
    shared = ModelTarget(wrap(get_model(spec, settings)), system_prompt=system_prompt)
    return shared.target_id, lambda: shared
