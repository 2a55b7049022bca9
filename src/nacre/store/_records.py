"""Records as they are stored and read back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nacre.conversation import Conversation

RunStatus = Literal["running", "completed", "failed", "interrupted"]


class RunRecord(BaseModel):
    """One run of a job (a benchmark, a red-team campaign, a batch guard pass).

    Attributes:
        id: Sortable id, ``YYYYMMDD-HHMMSS-xxxxxx``.
        kind: What ran, e.g. ``bench.strata-sword`` or ``attack.mrj``.
        status: ``running``, ``completed``, ``failed`` or ``interrupted`` (stopped by the user, or its process
            gone without finishing: resumable).
        config: The effective configuration the run used.
        nacre_version: The nacre version that started it.
        created_at: Unix time of the start.
        updated_at: Unix time of the last status change.
        summary: Final metrics, once completed.
        owner: ``host:pid`` of the process that started or last resumed it (none in stores from before v2).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    status: RunStatus
    config: dict[str, Any]
    nacre_version: str
    created_at: float
    updated_at: float
    summary: dict[str, Any] | None = None
    owner: str | None = None


class ConversationRecord(BaseModel):
    """A stored conversation of a run.

    Attributes:
        id: Row id.
        run_id: The run it belongs to.
        item_key: The dataset item or goal it answers; unique within a run, which is what makes resume exact.
        status: ``open`` while turns are still being added, ``complete`` when done.
        metadata: Free-form fields (dataset labels, decisions, ...).
        messages: The messages in order, as OpenAI dicts.
        message_meta: Per-message metadata (model id, usage, latency, cached), aligned with ``messages``.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    run_id: str
    item_key: str
    status: Literal["open", "complete"]
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    message_meta: list[dict[str, Any]] = Field(default_factory=list)

    def conversation(self) -> Conversation:
        """The messages as a :class:`~nacre.conversation.Conversation`."""
        return Conversation.from_openai(self.messages)


class ScoreRecord(BaseModel):
    """A judge's score of a stored conversation.

    Attributes:
        conversation_id: What was scored.
        judge_id: Which judge scored it.
        value: Numeric score, if any.
        label: Categorical label, if any.
        explanation: The judge's reason.
        raw: The judge's raw output (kept for audits).
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: int
    judge_id: str
    value: float | None = None
    label: str | None = None
    explanation: str = ""
    raw: str = ""
