"""Value types of red-team attempts: outcomes, turns, per-role usage, results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

from nacre.models import Completion

Role = Literal["attacker", "target", "judge"]
ROLES: tuple[Role, ...] = ("attacker", "target", "judge")


class Outcome(StrEnum):
    """How an attempt ended.

    ``FAIL_ERROR`` (the target kept failing), ``ATTACKER_REFUSED`` (the attacker model would not write attacks) and
    ``JUDGE_ERROR`` (the judge's last verdict could not be read) are kept apart from ``FAIL_BUDGET`` so that none
    is mistaken for the target resisting.
    """

    SUCCESS = "success"
    FAIL_BUDGET = "fail_budget"
    FAIL_ERROR = "fail_error"
    ATTACKER_REFUSED = "attacker_refused"
    JUDGE_ERROR = "judge_error"


@dataclass(slots=True)
class RoleUsage:
    """Calls and tokens of one role within an attempt or a campaign.

    Attributes:
        calls: Model calls that returned (cached replays included).
        failed_calls: Calls that raised after their retries.
        cached_calls: Calls answered from the response cache (on resume), at no cost.
        prompt_tokens: Prompt tokens of non-cached calls.
        completion_tokens: Completion tokens of non-cached calls.
        latency_s: Wall-clock seconds spent waiting on the role.
    """

    calls: int = 0
    failed_calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0

    def add(self, other: RoleUsage) -> None:
        """Accumulate another usage into this one."""
        self.calls += other.calls
        self.failed_calls += other.failed_calls
        self.cached_calls += other.cached_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.latency_s += other.latency_s


@dataclass(slots=True)
class UsageLedger:
    """Per-role usage, counted from the first call (failed ones included)."""

    roles: dict[str, RoleUsage] = field(default_factory=lambda: {r: RoleUsage() for r in ROLES})

    def record(self, role: Role, completion: Completion) -> None:
        """Count a call that returned."""
        usage = self.roles[role]
        usage.calls += 1
        usage.latency_s += completion.latency_s
        if completion.cached:
            usage.cached_calls += 1
        else:
            usage.prompt_tokens += completion.usage.prompt_tokens
            usage.completion_tokens += completion.usage.completion_tokens

    def record_tokens(self, role: Role, prompt_tokens: int, completion_tokens: int, latency_s: float) -> None:
        """Count a call known only by its token counts (e.g. one made inside a judge)."""
        usage = self.roles[role]
        usage.calls += 1
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.latency_s += latency_s

    def failure(self, role: Role) -> None:
        """Count a call that failed after its retries."""
        self.roles[role].failed_calls += 1

    def merge(self, other: UsageLedger) -> None:
        """Add another ledger's counts into this one."""
        for role, usage in other.roles.items():
            self.roles.setdefault(role, RoleUsage()).add(usage)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-friendly form."""
        return {
            role: {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(u).items()}
            for role, u in self.roles.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> UsageLedger:
        """Inverse of :meth:`to_dict`."""
        ledger = cls()
        for role, values in data.items():
            ledger.roles[role] = RoleUsage(**dict(values))
        return ledger


@dataclass(frozen=True, slots=True)
class Exchange:
    """One query sent to the target and what came back.

    Attributes:
        t: The round it belongs to (1-based); a refused query and its rephrasing share a round.
        query: What the target was asked.
        response: The target's reply.
        kept: False if the exchange was pruned from the target-visible history (refused, then backtracked).
        technique: The persuasion technique or transform used, if any.
        plan_index: Which alternative plan was being followed.
        refusal: The refusal judge's probability that the reply is a refusal.
        refusal_label: ``refusal``, ``compliance`` or ``unsure``.
        progress: In-loop progress towards the goal in [0, 1], when judged.
        s_q: Embedding similarity of the query to the goal.
        s_r: Embedding similarity of the reply to the goal.
        rewrites: How many times the query was rewritten to fit the similarity band.
        note: Anything else worth seeing in a transcript (why it was refused, ...).
    """

    t: int
    query: str
    response: str
    kept: bool
    technique: str | None = None
    plan_index: int = 0
    refusal: float | None = None
    refusal_label: str | None = None
    progress: float | None = None
    s_q: float | None = None
    s_r: float | None = None
    rewrites: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (floats rounded)."""
        # Built field by field: dataclasses.asdict deep-copies and showed up in campaign profiles.
        return {
            name: round(value, 4) if isinstance(value, float) else value
            for name in _EXCHANGE_FIELDS
            for value in (getattr(self, name),)
        }


_EXCHANGE_FIELDS = tuple(f.name for f in fields(Exchange))


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """The outcome of one attack attempt on one goal.

    Attributes:
        key: Idempotent id of the attempt within its run (``<goal id>#<attempt>``).
        goal_id: The goal.
        goal: The goal text.
        category: The goal's category, if any.
        method: The attack's registry name.
        attempt: Attempt number for this goal (0-based; success@k counts attempts 0..k-1).
        outcome: How it ended.
        success_turn: The round of the successful reply, if any.
        plan_index: The plan that succeeded (or the last one tried).
        exchanges: Every exchange in order, pruned ones included.
        final_score: The final judge's score in [0, 1], if judged.
        final_label: The final judge's label (``success``, ``failure``, ``error``).
        final_explanation: The final judge's reason.
        techniques: Techniques used in kept exchanges, in order.
        backtracks: Exchanges pruned after a refusal.
        attacker_refusals: Times the attacker model declined to write an attack.
        usage: Per-role usage.
        error: The last error, for ``FAIL_ERROR``.
        extra: Method-specific details (plans, similarity band, ...).
    """

    key: str
    goal_id: str
    goal: str
    category: str | None
    method: str
    attempt: int
    outcome: Outcome
    success_turn: int | None
    plan_index: int
    exchanges: tuple[Exchange, ...]
    final_score: float | None
    final_label: str | None
    final_explanation: str
    techniques: tuple[str, ...]
    backtracks: int
    attacker_refusals: int
    usage: UsageLedger
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        """Whether the attack reached its goal according to the final judge."""
        return self.outcome is Outcome.SUCCESS

    def to_dict(self) -> dict[str, Any]:
        """The JSONL export form (one line per attempt)."""
        return {
            "key": self.key,
            "goal_id": self.goal_id,
            "goal": self.goal,
            "category": self.category,
            "method": self.method,
            "attempt": self.attempt,
            "outcome": self.outcome.value,
            "success_turn": self.success_turn,
            "plan_index": self.plan_index,
            "turns": [{"seq": i, **e.to_dict()} for i, e in enumerate(self.exchanges) if e.kept],
            "pruned": [{"seq": i, **e.to_dict()} for i, e in enumerate(self.exchanges) if not e.kept],
            "final": {"score": self.final_score, "label": self.final_label, "explanation": self.final_explanation},
            "techniques": list(self.techniques),
            "backtracks": self.backtracks,
            "attacker_refusals": self.attacker_refusals,
            "usage": self.usage.to_dict(),
            "error": self.error,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptResult:
        """Inverse of :meth:`to_dict` (kept and pruned exchanges re-merged in their original order)."""
        rows = sorted([*data["turns"], *data["pruned"]], key=lambda e: int(e["seq"]))
        exchanges = [Exchange(**{k: v for k, v in e.items() if k != "seq"}) for e in rows]
        final = data.get("final") or {}
        return cls(
            key=data["key"],
            goal_id=data["goal_id"],
            goal=data["goal"],
            category=data.get("category"),
            method=data["method"],
            attempt=int(data["attempt"]),
            outcome=Outcome(data["outcome"]),
            success_turn=data.get("success_turn"),
            plan_index=int(data.get("plan_index", 0)),
            exchanges=tuple(exchanges),
            final_score=final.get("score"),
            final_label=final.get("label"),
            final_explanation=final.get("explanation", ""),
            techniques=tuple(data.get("techniques", ())),
            backtracks=int(data.get("backtracks", 0)),
            attacker_refusals=int(data.get("attacker_refusals", 0)),
            usage=UsageLedger.from_dict(data.get("usage", {})),
            error=data.get("error"),
            extra=dict(data.get("extra", {})),
        )
