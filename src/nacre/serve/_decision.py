"""The guard's verdict on one request, and how it is shown: the ``nacre`` field and the ``X-Nacre-*`` headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nacre.guard import GuardDecision
from nacre.respond import ResponseResult, chain_has_risk


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard decided for a request.

    Attributes:
        decided: The assessment and decision; ``None`` if assessing failed (the reply then fails closed).
        guarded: Whether the reply is generated under the guard's scaffold and checked; ``False`` means the
            request goes upstream unchanged (benign: ``comply`` with no risk in view).
        error: Why assessing failed, if it did.
    """

    decided: GuardDecision | None
    guarded: bool
    error: str | None = None

    @classmethod
    def of(cls, decided: GuardDecision) -> Verdict:
        """The verdict for a decision: pass through only plain ``comply`` with no risk branch."""
        strategy = decided.decision.strategy
        risky = chain_has_risk(decided.assessment.conversation, strategy)
        return cls(decided=decided, guarded=strategy != "comply" or risky)

    @classmethod
    def failed(cls, error: str) -> Verdict:
        """The verdict when assessing failed: guarded, no decision."""
        return cls(decided=None, guarded=True, error=error)

    @property
    def strategy(self) -> str | None:
        """The decided strategy."""
        return self.decided.decision.strategy if self.decided is not None else None

    def summary(self, request_id: str) -> dict[str, Any]:
        """The ``nacre`` extension field (before the reply is known).

        Args:
            request_id: The request id.

        Returns:
            Strategy, whether the reply is guarded, risk, user-type belief, constraints and timings.
        """
        out: dict[str, Any] = {"request_id": request_id, "strategy": self.strategy, "guarded": self.guarded}
        if self.decided is None:
            out["error"] = self.error
            return out
        risk = self.decided.assessment.conversation
        decision = self.decided.decision
        out["risk"] = {
            "harmful": risk.harmful,
            "harm_probability": round(risk.harm_probability, 4),
            "category": risk.category,
            "severity": risk.severity,
            "interaction": risk.interaction,
            "signals": sorted({s.kind for s in risk.signals}),
        }
        out["user_type"] = {k: round(v, 4) for k, v in risk.user_type.items()}
        out["constraints"] = list(decision.constraints)
        out["policy_version"] = decision.policy_version
        out["timings_ms"] = {k: round(v, 3) for k, v in self.decided.timings_ms.items()}
        return out

    def headers(self, request_id: str) -> dict[str, str]:
        """The ``X-Nacre-*`` headers.

        Args:
            request_id: The request id.

        Returns:
            Strategy, guarded, risk, category, severity and user-type belief (ASCII only).
        """
        headers = {
            "X-Nacre-Request-Id": request_id,
            "X-Nacre-Strategy": self.strategy or "none",
            "X-Nacre-Guarded": "true" if self.guarded else "false",
        }
        if self.decided is None:
            headers["X-Nacre-Error"] = "assessment failed"
            return headers
        risk = self.decided.assessment.conversation
        headers["X-Nacre-Risk"] = f"{risk.harm_probability:.4f}"
        headers["X-Nacre-Category"] = risk.category
        headers["X-Nacre-Severity"] = str(risk.severity)
        headers["X-Nacre-User-Type"] = ", ".join(f"{k}={v:.4f}" for k, v in risk.user_type.items())
        return headers


def reply_summary(result: ResponseResult) -> dict[str, Any]:
    """How a guarded reply came about, for the ``nacre`` field.

    Args:
        result: The responder's result.

    Returns:
        Whether it was repaired, composed from snippets or stopped mid-stream, attempts, failed checks, errors.
    """
    return {
        "repaired": result.repaired,
        "fallback": result.fallback_used,
        "interrupted": result.interrupted,
        "attempts": result.attempts,
        "checks_passed": result.checks.passed,
        "failed_checks": [c.id for c in result.checks.failures],
        "upstream_error": result.error,
        "reply_timings_ms": {k: round(v, 3) for k, v in result.timings.items()},
    }


def reply_headers(result: ResponseResult) -> Mapping[str, str]:
    """``X-Nacre-Repaired`` and ``X-Nacre-Fallback`` for a non-streamed guarded reply."""
    return {
        "X-Nacre-Repaired": "true" if result.repaired else "false",
        "X-Nacre-Fallback": "true" if result.fallback_used else "false",
    }
