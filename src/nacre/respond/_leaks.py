"""Detecting a reply that reveals its reasoning chain: node names, strategy identifiers, copied guideline text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nacre.respond._chain import SafetyChain

# Names that only ever appear in a reply because the plan leaked: matched anywhere, in any case.
_DISTINCTIVE = (
    r"user\s+needs\s+analysis",
    r"risk\s+intent(?:\s+analysis)?",
    r"response\s+strategy\s+formulation",
    r"usefulness\s+strateg(?:y|ies)",
    # "Private plan" and "user experience strategy" are ordinary phrases too (health insurance, product design):
    # only the plan's own framing, a possessive or a heading gives them away.
    r"\[\s*private\s+plan\s*\]|end\s+of\s+(?:the\s+|my\s+)?private\s+plan|\bmy\s+private\s+plan\b",
    r"\bprivate\s+plan\s*[:：]",
    r"\buser\s+experience\s+strateg(?:y|ies)\s*[:：]",
    r"用户需求分析",
    r"风险意图(?:分析)?",
    r"回复策略制定",
    r"有用性策略",
    # As in English, 内部计划 and 用户体验策略 are everyday words; the plan's framing or a heading is the leak.
    r"[\[【]\s*内部计划|内部计划\s*(?:结束|[:：])|我的内部计划",
    r"用户体验策略\s*[:：]",
)
# Names that are ordinary words too ("follow the safety guidelines on the label"): a leak only when used as a
# heading, i.e. title-cased or followed by a colon.
_AMBIGUOUS_EN = ("Safety Guidelines", "Safety Strategies", "Overall approach")
_AMBIGUOUS_ZH = ("安全准则", "安全策略", "整体思路")
_STRATEGY_IDS = re.compile(
    r"(?<![A-Za-z_])(comply_with_care|safe_alternative|refuse_with_help)(?![A-Za-z_])"
    r"|\b(comply\s+with\s+care|refuse\s+with\s+help)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u9fff]")
DEFAULT_MIN_WORDS = 8


def _leak_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = [(p, re.compile(p, re.IGNORECASE)) for p in _DISTINCTIVE]
    for name in _AMBIGUOUS_EN:
        # Title case exactly, or any case followed by a colon.
        out.append((name, re.compile(rf"\b{re.escape(name)}\b|\b(?i:{re.escape(name)})\s*[:：]")))
    for name in _AMBIGUOUS_ZH:
        out.append((name, re.compile(rf"{re.escape(name)}\s*[:：]")))
    return tuple(out)


_LEAK_PATTERNS = _leak_patterns()


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("’", "'"))


def _weight(token: str) -> float:
    # A Chinese word is about two characters: count each character as half an English word.
    return 0.5 if "\u3400" <= token[0] <= "\u9fff" else 1.0


def longest_shared_run(reply_tokens: Sequence[str], phrase_tokens: Sequence[str]) -> tuple[float, int, int]:
    """The heaviest run of consecutive tokens shared by two token lists.

    Returns:
        (weight in English-word units, start index in ``phrase_tokens``, length in tokens).
    """
    # Sparse dynamic programme: only phrase positions holding the current reply token can extend a run, so the
    # cost follows the number of matches rather than len(reply) * len(phrase) (it runs on every streamed chunk).
    positions: dict[str, list[int]] = {}
    for j, p in enumerate(phrase_tokens):
        positions.setdefault(p, []).append(j)
    best = (0.0, 0, 0)
    prev: dict[int, tuple[float, int]] = {}
    for r in reply_tokens:
        cur: dict[int, tuple[float, int]] = {}
        for j in positions.get(r, ()):
            weight, length = prev.get(j - 1, (0.0, 0))
            cur[j] = (weight + _weight(r), length + 1)
            if cur[j][0] > best[0]:
                best = (cur[j][0], j + 1 - cur[j][1], cur[j][1])
        prev = cur
    return best


def chain_leaks(
    reply: str, chain: SafetyChain, *, min_words: int = DEFAULT_MIN_WORDS, prompt_text: Sequence[str] = ()
) -> list[str]:
    """Find the ways a reply reveals its reasoning chain.

    Looks for the chain's node names (English and Chinese), strategy identifiers such as ``refuse_with_help``, and
    verbatim copying of chain text: a run of at least ``min_words`` words (or twice as many Chinese characters)
    shared with a guideline, a strategy phrase, the needs, the risk intent or ``prompt_text``.

    Args:
        reply: The generated reply.
        chain: The chain that steered it.
        min_words: Shortest shared run that counts as copying.
        prompt_text: Other sentences of the prompt the chain was rendered into (its approach and rules), checked
            for copying like the chain's own text.

    Returns:
        One readable line per leak; empty if none.
    """
    found: list[str] = []
    for _name, pattern in _LEAK_PATTERNS:
        match = pattern.search(reply)
        if match:
            found.append(f"node name {match.group(0).strip()!r}")
    for match in _STRATEGY_IDS.finditer(reply):
        found.append(f"strategy identifier {match.group(0)!r}")
    reply_tokens = _tokens(reply)
    sources = (
        chain.needs,
        chain.risk_intent,
        *chain.guidelines,
        *chain.safety_strategies,
        *chain.usefulness_strategies,
        *prompt_text,
    )
    for source in dict.fromkeys(s for s in sources if s):
        phrase = _tokens(source)
        weight, start, length = longest_shared_run(reply_tokens, phrase)
        if weight >= min_words:
            copied = " ".join(phrase[start : start + length])
            found.append(f"copied chain text {copied[:80]!r}")
    return found
