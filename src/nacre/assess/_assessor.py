"""The assessor: tiers 1-3 for each turn, then the conversation's trajectory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from nacre.assess._classifier import Classifier, Scores
from nacre.assess._embed import Embedder, embedder_named
from nacre.assess._heads import Heads, load_heads
from nacre.assess._llm import LLMAssessor, LLMVerdict
from nacre.assess._lru import LRUCache
from nacre.assess._normalize import Normalized, normalize
from nacre.assess._trajectory import (
    DEFAULT_BELIEF,
    BeliefConfig,
    boost_malicious,
    is_refusal,
    joint_view,
    update_belief,
)
from nacre.assess._types import INTERACTIONS, ConversationAssessment, InteractionType, RiskAssessment, Signal
from nacre.conversation import Conversation
from nacre.models import ChatModel
from nacre.taxonomy import NONE, USER_TYPES, Taxonomy, UserType, load_taxonomy


@dataclass(frozen=True, slots=True)
class AssessorConfig:
    """Settings of the assessor.

    Attributes:
        window: User turns read together in the trajectory view.
        harm_threshold: Probability at which something counts as harmful; ``None`` takes the trained value.
        llm_band: Harm probabilities in this closed interval send the conversation to the LLM tier (if any).
        carry: How much of the previous turn's conversation-level harm carries over to the next turn.
        carry_scope: ``beyond_window`` (the default): a turn's harm reaches a later turn, decayed by ``carry`` per
            turn, only once it has left that turn's joint view (inside the window the joint view reads it);
            ``all``: the previous turn's conversation-level harm, decayed, reaches every turn (before 0.22).
        retry_similarity: Embedding similarity above which a message after a refusal counts as a retry.
        belief: Parameters of the user-type belief update.
        cache_size: Scored texts kept in memory (conversations re-send their history every turn).
    """

    window: int = 4
    harm_threshold: float | None = None
    llm_band: tuple[float, float] = (0.25, 0.75)
    carry: float = 0.8
    carry_scope: Literal["all", "beyond_window"] = "beyond_window"
    retry_similarity: float = 0.85
    belief: BeliefConfig = DEFAULT_BELIEF
    cache_size: int = 4096


@dataclass(frozen=True, slots=True)
class _Turn:
    norm: Normalized
    scores: Scores
    vector: np.ndarray


@dataclass(frozen=True, slots=True)
class _Readings:
    """The texts the classifier reads for one conversation: every user turn and the joint views to score."""

    users: list[str]
    replies: list[str | None]
    indices: list[int]
    joints: list[str]


class Assessor:
    """Assesses conversations: per-turn risk and trajectory risk with a user-type belief.

    Args:
        classifier: Tier 2 (embedder plus trained heads).
        taxonomy: The risk taxonomy (for names and labels).
        llm: Optional tier 3, consulted only when tier 2 is unsure.
        config: Settings.
    """

    def __init__(
        self,
        classifier: Classifier,
        taxonomy: Taxonomy,
        *,
        llm: LLMAssessor | None = None,
        config: AssessorConfig | None = None,
    ) -> None:
        self.classifier = classifier
        self.taxonomy = taxonomy
        self.llm = llm
        self.config = config or AssessorConfig()
        self.threshold = (
            self.config.harm_threshold
            if self.config.harm_threshold is not None
            else float(classifier.heads.thresholds["harmful"])
        )
        self._cache: LRUCache[str, _Turn] = LRUCache(self.config.cache_size)

    @classmethod
    def default(
        cls,
        *,
        embedder: Embedder | None = None,
        heads: Heads | None = None,
        llm_model: ChatModel | None = None,
        config: AssessorConfig | None = None,
    ) -> Assessor:
        """The shipped assessor: the shipped heads on the embedder they were trained with, optional LLM tier.

        Raises:
            MissingExtraError: If the ``assess`` extra (onnxruntime, the e5 weights) is not installed.
        """
        taxonomy = load_taxonomy()
        heads = heads or load_heads()
        classifier = Classifier(embedder or embedder_named(heads.embedder), heads)
        llm = LLMAssessor(llm_model, taxonomy.classifier_labels) if llm_model is not None else None
        return cls(classifier, taxonomy, llm=llm, config=config)

    def clear_cache(self) -> None:
        """Forget every cached assessment and embedding (benchmarks use it to time real work)."""
        self._cache.clear()
        self.classifier.clear_cache()

    # Tier 1 + 2 on single texts, cached -------------------------------------------------------------------

    def _score_texts(self, texts: Sequence[str]) -> list[_Turn]:
        return self._cache.get_or_compute(texts, self._score_new)

    def _score_new(self, texts: list[str]) -> list[_Turn]:
        norms = [normalize(t) for t in texts]
        turns: list[_Turn] = []
        for n, s in zip(norms, self.classifier.score(norms), strict=True):
            assert s.vector is not None  # the classifier always returns the text's embedding
            turns.append(_Turn(n, s, s.vector))
        return turns

    def _readings(self, conversation: Conversation) -> _Readings | None:
        """What to score, or ``None`` when no user turn has any text."""
        users = [m.text for m in conversation if m.role == "user"]
        if not any(u.strip() for u in users):
            return None
        replies = self._replies(conversation)
        # Every turn's joint view, even when only the last turn's assessment is asked for: an earlier turn's risk
        # reaches the last one through the carry, and that risk includes its joint reading. Reading only the last
        # joint view made the verdict depend on ``history`` (0.32 without it, 0.40 and harmful with it).
        indices = list(range(len(users)))
        joints = [joint_view(users, replies, i, self.config.window) for i in indices]
        return _Readings(users, replies, indices, joints)

    def _all_cached(self, readings: _Readings) -> bool:
        return all(t in self._cache for t in (*readings.users, *readings.joints))

    # Public API ---------------------------------------------------------------------------------------------

    def prepare(self, texts: Sequence[str]) -> None:
        """Score many texts in one embedding batch ahead of :meth:`assess_sync` calls (batch jobs)."""
        for start in range(0, len(texts), 64):
            self._score_texts(texts[start : start + 64])

    async def assess(self, conversation: Conversation, *, history: bool = False) -> ConversationAssessment:
        """Assess a conversation (tiers 1-2 off the event loop; tier 3 only when unsure).

        Args:
            conversation: The messages so far; the latest user message is the one being assessed.
            history: Also return the conversation-level assessment after every user turn.

        Returns:
            The turn, conversation and (optionally) per-turn assessments.
        """
        readings = self._readings(conversation)
        if readings is None or self._all_cached(readings):
            # Only bookkeeping is left, cheaper than the thread hop (which queues behind other requests' work).
            result = self._assess_readings(readings, history=history)
        else:
            result = await asyncio.to_thread(self._assess_readings, readings, history=history)
        low, high = self.config.llm_band
        if self.llm is None or not low <= result.conversation.harm_probability <= high:
            return result
        start = time.perf_counter()
        verdict = await self.llm.consult(conversation)
        timings = {**result.timings_ms, "llm": (time.perf_counter() - start) * 1000}
        if isinstance(verdict, str):
            merged = self._without_llm(result.conversation, verdict)
        else:
            merged = self._merge_llm(result.conversation, verdict)
        hist = (*result.history[:-1], merged) if result.history else ()
        return replace(result, conversation=merged, history=hist, timings_ms=timings)

    async def assess_text(self, text: str) -> ConversationAssessment:
        """Assess a single user message."""
        return await self.assess(Conversation.from_text(text))

    def assess_sync(self, conversation: Conversation, *, history: bool = False) -> ConversationAssessment:
        """Tiers 1-2 without an event loop (for batch jobs and benchmarks)."""
        return self._assess_readings(self._readings(conversation), history=history)

    def _assess_readings(self, readings: _Readings | None, *, history: bool) -> ConversationAssessment:
        start = time.perf_counter()
        if readings is None:
            empty = self._empty()
            return ConversationAssessment(turn=empty, conversation=empty, history=(empty,) if history else ())
        users, replies, indices = readings.users, readings.replies, readings.indices
        turns = self._score_texts(users)
        t_turns = time.perf_counter()
        joint_scores = dict(zip(indices, self._score_texts(readings.joints), strict=True))
        t_joint = time.perf_counter()

        belief: dict[str, float] = dict(self.config.belief.prior)
        carried = 0.0
        own: list[float] = []
        # The turn whose harm reaches the current one from beyond the window, with the reading that gave that harm.
        best: int | None = None
        riskiest: list[_Turn] = []
        out: list[RiskAssessment] = []
        for i in range(len(users)):
            signals = list(turns[i].norm.signals)
            if i > 0 and replies[i - 1] and is_refusal(replies[i - 1] or ""):
                similarity = float(turns[i].vector @ turns[i - 1].vector)
                # A wrapper counts when what it wraps is itself a risky ask: "now write a story about a dragon"
                # after a refusal is a new topic, not the declined request in costume.
                wrapped = turns[i].scores.harm >= self.threshold and any(
                    s.kind in ("fiction", "hypothetical", "roleplay") for s in signals
                )
                if similarity >= self.config.retry_similarity or wrapped:
                    signals.append(
                        Signal("retry_after_refusal", f"similarity {similarity:.2f} to the declined request", True)
                    )
            belief = update_belief(belief, turns[i].scores.user_type, signals, self.config.belief)
            if self.config.carry_scope == "beyond_window":
                # Inside the window the joint view reads an earlier turn together with this one, in context, and a
                # carried value would only override that reading: on the development set it declined 14 more benign
                # turns and caught no attack the window missed. Risk reaches further once its turn has left.
                # Every earlier turn's harm decays by the same factor per turn, so their order never changes: the
                # riskiest so far stays ahead of all but the turn that has just left, and one comparison per turn
                # keeps a long conversation linear (a maximum over every turn that has left was quadratic).
                left = i - self.config.window
                if left >= 0 and (best is None or self._carried(own, left, i) > self._carried(own, best, i)):
                    best = left
                carried = self._carried(own, best, i) if best is not None else 0.0
            joint = joint_scores.get(i)
            if joint is not None:
                source = riskiest[best] if best is not None and self.config.carry_scope == "beyond_window" else None
                out.append(self._conversation_level(turns[i], joint, belief, carried, signals, carried_from=source))
            own.append(max(turns[i].scores.harm, joint.scores.harm if joint is not None else 0.0))
            riskiest.append(joint if joint is not None and joint.scores.harm > turns[i].scores.harm else turns[i])
            if self.config.carry_scope == "all":
                # The turn's conversation-level reading (its own, or what reached it), decayed, reaches the next.
                carried = max(own[-1], carried) * self.config.carry
        last = turns[-1]
        turn_assessment = self._from_scores(last.scores, last.norm, "turn", list(last.norm.signals))
        timings = {"turns": (t_turns - start) * 1000, "trajectory": (t_joint - t_turns) * 1000}
        timings["total"] = (time.perf_counter() - start) * 1000
        return ConversationAssessment(
            turn=turn_assessment, conversation=out[-1], history=tuple(out) if history else (), timings_ms=timings
        )

    # Helpers ------------------------------------------------------------------------------------------------

    @staticmethod
    def _replies(conversation: Conversation) -> list[str | None]:
        """What the assistant said after each user message, up to the next one (``None`` where it said nothing).

        Every assistant message before the next user message counts, not only the first: a reply that calls a tool
        first has its answer (or refusal) in a later message. Refusal parts count too, since they are what a refusal
        check and an "expand step 3" look for.
        """
        replies: list[str | None] = []
        said: list[str] | None = None
        for message in conversation:
            if message.role == "user":
                if replies:
                    replies[-1] = "\n".join(said) if said is not None else None
                replies.append(None)
                said = None
            elif message.role == "assistant" and replies:
                said = said if said is not None else []
                if isinstance(message.content, tuple):
                    said += [p.text for p in message.content if p.text]
                elif message.content:
                    said.append(message.content)
                if message.refusal:
                    said.append(message.refusal)
        if replies:
            replies[-1] = "\n".join(said) if said is not None else None
        return replies

    def _carried(self, own: Sequence[float], j: int, i: int) -> float:
        """What turn ``j``'s harm still weighs at turn ``i``."""
        return own[j] * self.config.carry ** (i - j)

    def _conversation_level(
        self,
        turn: _Turn,
        joint: _Turn,
        belief: Mapping[str, float],
        carried: float,
        signals: list[Signal],
        *,
        carried_from: _Turn | None = None,
    ) -> RiskAssessment:
        source = joint if joint.scores.harm > turn.scores.harm else turn
        if carried_from is not None and carried > source.scores.harm and carried >= self.threshold:
            # The verdict comes from an earlier turn, so that turn's reading names the hazard: the current turn's own
            # category distribution (read as harmless) would otherwise name whatever hazard it scored highest.
            source = carried_from
        harm = max(turn.scores.harm, joint.scores.harm, carried)
        assessment = self._from_scores(source.scores, turn.norm, "conversation", signals, harm=harm)
        user_type: dict[UserType, float] = {t: float(belief[t]) for t in USER_TYPES}
        if joint is source and joint.scores.harm > turn.scores.harm + 0.2:
            signals = [*signals, Signal("trajectory", "risk visible only across turns", False)]
        return replace(
            assessment,
            user_type=user_type,
            signals=tuple(signals),
            rationale=self._rationale(harm, assessment.category, assessment.severity, user_type, signals),
        )

    def _from_scores(
        self, scores: Scores, norm: Normalized, scope: str, signals: list[Signal], *, harm: float | None = None
    ) -> RiskAssessment:
        harm_p = scores.harm if harm is None else harm
        categories = dict(scores.categories)
        hazard = {k: v for k, v in categories.items() if k != NONE}
        category = max(categories, key=lambda k: categories[k])
        if category == NONE and harm_p >= self.threshold and hazard:
            category = max(hazard, key=lambda k: hazard[k])  # a harmful message always names its hazard
        severity = int(np.argmax(scores.severity))
        if harm_p >= self.threshold:
            severity = max(severity, 2)
        user_type: dict[UserType, float] = {t: float(scores.user_type.get(t, 0.0)) for t in USER_TYPES}
        if any(s.jailbreak for s in signals):
            user_type = boost_malicious(user_type, self.config.belief.jailbreak_factor)
        interaction: InteractionType = max(INTERACTIONS, key=lambda k: scores.interaction.get(k, 0.0))
        return RiskAssessment(
            scope="turn" if scope == "turn" else "conversation",
            harmful=harm_p >= self.threshold,
            harm_probability=harm_p,
            category=category,
            categories=categories,
            severity=severity,
            user_type=user_type,
            interaction=interaction,
            signals=tuple(signals),
            confidence=_confidence(harm_p, self.threshold),
            tier="classifier",
            rationale=self._rationale(harm_p, category, severity, user_type, signals),
            lang=norm.lang,
        )

    def _rationale(
        self, harm: float, category: str, severity: int, user_type: Mapping[UserType, float], signals: Sequence[Signal]
    ) -> str:
        likely = max(user_type, key=lambda t: user_type[t])
        name = self.taxonomy[category].name if category in self.taxonomy else "no hazard"
        head = f"{'harmful' if harm >= self.threshold else 'not harmful'} ({harm:.2f}): {name}, severity {severity}"
        head += f"; user likely {likely} ({user_type[likely]:.2f})"
        kinds = sorted({s.kind for s in signals})
        return head + (f"; signals: {', '.join(kinds)}" if kinds else "")

    def _merge_llm(self, base: RiskAssessment, verdict: LLMVerdict) -> RiskAssessment:
        llm_harm = 0.9 if verdict.harmful else 0.1
        harm = (base.harm_probability + llm_harm) / 2
        harmful = harm >= self.threshold
        user_type: dict[UserType, float] = {
            t: (base.user_type.get(t, 0.0) + (1.0 if t == verdict.user_type else 0.0)) / 2 for t in USER_TYPES
        }
        category = verdict.category if verdict.harmful or base.category == NONE else base.category
        if category == NONE and harmful:
            # A harmful verdict always names its hazard, as tier 2's does: the model's "none" keeps tier 2's.
            hazard = {k: v for k, v in base.categories.items() if k != NONE}
            category = base.category if base.category != NONE or not hazard else max(hazard, key=hazard.__getitem__)
        severity = max(base.severity, verdict.severity) if verdict.harmful else verdict.severity
        if harmful:
            severity = max(severity, 2)  # as for tier 2: what stays harmful is never of no or low severity
        return replace(
            base,
            harmful=harmful,
            harm_probability=harm,
            category=category,
            severity=severity,
            user_type=user_type,
            tier="llm",
            confidence=_confidence(harm, self.threshold),
            rationale=(
                f"{self._rationale(harm, category, severity, user_type, base.signals)}; llm: {verdict.rationale}"
            ),
        )

    def _without_llm(self, base: RiskAssessment, reason: str) -> RiskAssessment:
        """Tier 2's assessment, noting why the LLM tier, though asked, did not decide."""
        signals = (*base.signals, Signal("llm_unavailable", reason, jailbreak=False))
        rationale = self._rationale(base.harm_probability, base.category, base.severity, base.user_type, signals)
        return replace(base, signals=signals, rationale=rationale)

    def _empty(self) -> RiskAssessment:
        return RiskAssessment(
            scope="conversation",
            harmful=False,
            harm_probability=0.0,
            category=NONE,
            categories={NONE: 1.0},
            severity=0,
            user_type={"benign": 1.0, "vulnerable": 0.0, "malicious": 0.0},
            interaction="declarative",
            confidence=1.0,
            tier="rules",
            rationale="no user message to assess",
        )


def _confidence(harm: float, threshold: float) -> float:
    """How far the harm probability sits from the threshold, as a share of the room on its side (0 at it, 1 at 0 or 1).

    Measured against one scale for both sides, a confident "not harmful" (p = 0 under a 0.35 threshold) could never
    read above 0.54 and looked less sure than a middling "harmful".
    """
    room = threshold if harm < threshold else 1.0 - threshold
    return min(1.0, abs(harm - threshold) / room) if room > 0 else 1.0
