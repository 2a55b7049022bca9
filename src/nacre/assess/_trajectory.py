"""Conversation-level evidence.

Joint views of recent turns, references back to earlier answers, retries after refusals, and the turn-by-turn
belief over who the user is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nacre.assess._types import Signal
from nacre.taxonomy import USER_TYPES, UserType

_REFERENCE_BACK = re.compile(
    r"\b(step|point|part|item|section|stage|phase|number)\s*#?\d+|\b(expand|elaborate|more detail|more specific|"
    r"be specific|go deeper|continue|keep going|put (it|them|everything|all)( \w+)? together|combine|summari[sz]e "
    r"(it|that|them|everything|all)|as (a|one) (list|guide|set of steps)|based on (your|what you|that|the above)|"
    r"what you (said|wrote|mentioned|described)|you (said|mentioned|wrote|described)|the above|earlier|previous "
    r"(answer|reply|message)|exact (amounts?|quantities|steps|ratios))\b"
    r"|第.{1,3}(步|点|条|部分)|展开|详细(说|讲|一点|些)|具体(一点|些|说说)|继续|接着|上面|刚才|之前(说|提到)的|你(说|提到)的|"
    r"整合|汇总|合起来|总结成|列成步骤|按步骤|精确的?(用量|剂量|比例|数量)",
    re.IGNORECASE,
)

_REFUSAL = re.compile(
    r"\b(I can(no|')t|I cannot|I won'?t|I'm not able to|I am not able to|I'm unable to|I am unable to|I must decline|"
    r"I'm sorry,? but|I apologi[sz]e,? but|can'?t (help|assist|provide) with|not (able|going) to (help|provide)|"
    r"against my (guidelines|policy))\b"
    r"|抱歉.{0,10}(无法|不能)|我(无法|不能|不会)(提供|帮助|协助|回答)|恕我无法|不便提供",
    re.IGNORECASE,
)


def references_back(text: str) -> bool:
    """Whether a message builds on earlier answers ("expand step 3", "put it all together")."""
    return _REFERENCE_BACK.search(text) is not None


def is_refusal(text: str) -> bool:
    """A fast check for a declined request in an assistant reply."""
    return _REFUSAL.search(text[:400]) is not None


def joint_view(user_turns: Sequence[str], replies: Sequence[str | None], upto: int, window: int) -> str:
    """The recent user turns up to ``upto`` read together, plus the reply they refer back to.

    Args:
        user_turns: Every user message, oldest first.
        replies: The assistant reply after each user message (``None`` where there was none).
        upto: Index of the latest user turn to include.
        window: How many user turns to include.

    Returns:
        One text for the classifier.
    """
    first = max(0, upto - window + 1)
    parts = [user_turns[i].strip() for i in range(first, upto + 1)]
    if upto > 0 and references_back(user_turns[upto]):
        previous = replies[upto - 1]
        if previous:
            parts.insert(len(parts) - 1, previous.strip()[:300])
    kept = [p for p in parts if p]
    if kept == [user_turns[upto].strip()]:
        # The turn read alone: return it exactly as written, so that it is scored once (the score cache is keyed by
        # the text), not a second time for stray whitespace.
        return user_turns[upto]
    return "\n".join(kept)


@dataclass(frozen=True, slots=True)
class BeliefConfig:
    """How the user-type belief moves.

    Attributes:
        prior: Belief before the first turn.
        memory: Exponent on the previous belief (below 1: old turns fade).
        temper: Exponent on each turn's classifier likelihood (below 1: one turn cannot flip everything).
        jailbreak_factor: Multiplier on "malicious" for a turn with jailbreak signals.
        retry_factor: Multiplier on "malicious" for rephrasing a request right after a refusal.
    """

    prior: Mapping[str, float]
    memory: float = 0.8
    temper: float = 0.7
    jailbreak_factor: float = 3.0
    retry_factor: float = 3.0


# Flat: the classifier's user-type probabilities already carry its training corpus's base rates, so a benign-heavy
# prior here would count "most users are benign" twice. With a 0.90 benign prior, the conversation-level reading of
# single messages in the corpus's held-out split called 126 of 152 vulnerable writers benign (the classifier alone:
# 38).
DEFAULT_BELIEF = BeliefConfig(prior={"benign": 1 / 3, "vulnerable": 1 / 3, "malicious": 1 / 3})


def boost_malicious(dist: Mapping[UserType, float], factor: float) -> dict[UserType, float]:
    """Multiply the "malicious" probability by ``factor`` and renormalise."""
    raw = {t: dist.get(t, 0.0) * (factor if t == "malicious" else 1.0) for t in USER_TYPES}
    total = sum(raw.values())
    return {t: raw[t] / total for t in USER_TYPES}


def update_belief(
    belief: Mapping[str, float],
    likelihood: Mapping[str, float],
    signals: Sequence[Signal],
    config: BeliefConfig = DEFAULT_BELIEF,
) -> dict[str, float]:
    """One Bayesian-style update of the user-type belief with a turn's evidence.

    Args:
        belief: Current belief.
        likelihood: The classifier's user-type probabilities for the turn.
        signals: The turn's signals (jailbreak evidence and ``retry_after_refusal`` raise "malicious").
        config: Update parameters.

    Returns:
        The normalised new belief.
    """
    jailbreak = any(s.jailbreak for s in signals)
    retry = any(s.kind == "retry_after_refusal" for s in signals)
    raw: dict[UserType, float] = {
        t: max(belief.get(t, 1e-6), 1e-6) ** config.memory * max(likelihood.get(t, 1e-6), 1e-6) ** config.temper
        for t in USER_TYPES
    }
    factor = (config.jailbreak_factor if jailbreak else 1.0) * (config.retry_factor if retry else 1.0)
    return {str(t): p for t, p in boost_malicious(raw, factor).items()}
