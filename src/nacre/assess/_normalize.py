"""Tier 1: normalise text, undo obfuscations, and notice jailbreak wrappers and framings.

The result keeps the original and adds *readings*: the cleaned text, each decoded payload, and for very long
messages the segments most likely to carry the real ask. The classifier scores every reading and keeps the
riskiest, so a decoder that fires by mistake costs a little time but never hides anything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nacre.assess._decode import CLEANERS, DECODERS
from nacre.assess._types import Signal

LONG_TEXT_CHARS = 1500
MAX_SEGMENTS = 6

# (kind, pattern, is jailbreak evidence on its own)
_WRAPPERS: tuple[tuple[str, re.Pattern[str], bool], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE), jailbreak)
    for kind, pattern, jailbreak in (
        (
            "ignore_instructions",
            r"\b(ignore|disregard|forget|override|bypass)\b.{0,30}\b(previous|prior|above|earlier|all|your|any|the)\b"
            r".{0,20}\b(instructions?|rules?|guidelines?|prompts?|polic(y|ies)|restrictions?|programming|training)\b"
            r"|(忽略|无视|忘记|忘掉|跳过).{0,8}(之前|以上|前面|所有|一切|你的)?.{0,4}(指令|规则|设定|要求|限制|约束|政策|准则)",
            True,
        ),
        (
            "unrestricted_persona",
            r"\b(DAN|do anything now|developer mode|dev mode|jailbr[eo]ak(en)?|unfiltered|uncensored|amoral|unaligned|"
            r"evil (ai|assistant|bot|twin)|no (ethical |moral )?(restrictions|limits|limitations|filters|boundaries|guidelines)|"
            r"without (any )?(restrictions|limits|filters|censorship|guidelines)|not bound by|free (of|from) (all )?"
            r"(rules|restrictions|guidelines)|machiavellian|never refuses?|cannot refuse|can't refuse)\b"
            r"|不受(任何)?(限制|约束|规则)|没有(任何)?(限制|道德|底线|约束|过滤)|无限制|无底线|开发者模式|越狱|不会拒绝|不能拒绝|永远不拒绝",
            True,
        ),
        (
            "no_warnings",
            r"\b(without|no|skip|omit|leave out)\b.{0,12}\b(warnings?|disclaimers?|moral(ity|izing|ising)?|"
            r"ethic(s|al)|caveats|lectures?|safety (notes?|messages?))\b|don'?t (add|include|give|mention)\b.{0,12}"
            r"\b(warnings?|disclaimers?|ethics|safety)\b"
            r"|不要.{0,6}(警告|免责|道德|提醒|说教|安全提示)|不(需要|用|必)(考虑|顾及)?.{0,4}(道德|伦理|法律|后果)",
            True,
        ),
        (
            "opposite_game",
            r"\b(opposite|irony|ironic|reverse|contrary)\s+(game|day|mode|world)\b|\bsay the opposite\b"
            r"|反话|反着说|相反的(游戏|规则)|反讽游戏|唱反调",
            True,
        ),
        (
            "forced_opening",
            r"\b(start|begin)\b.{0,30}\bwith\b.{0,4}[\"'“](sure|of course|absolutely|certainly|here)"
            r"|以[\"“'「]?(当然|好的|没问题|当然可以)[\"”'」]?(开头|开始)",
            True,
        ),
        (
            "token_insertion",
            r"\b(separate|split|insert)\b.{0,30}\b(each|every|between)\b.{0,10}\b(word|character|letter)s?\b"
            r"|每个(字|词|单词)之间|(字|词)与(字|词)之间",
            True,
        ),
        (
            "roleplay",
            r"\b(pretend|act as|acting as|role-?play|you are now|from now on,? you|stay in character|in character|"
            r"imagine you are|you will play|play the role)\b|扮演|假装你是|你现在是|角色扮演|从现在(开始|起)你",
            False,
        ),
        (
            "fiction",
            r"\b(novel|short story|story|screenplay|script|fiction(al)?|character|villain|scene|plot)\b|小说|剧本|故事|反派|情节",
            False,
        ),
        (
            "refute",
            r"\b(refute|rebut|debunk|disprove)\b|point out (the )?(errors|mistakes|flaws)|反驳|驳斥|辟谣|指出.{0,6}错误",
            False,
        ),
        (
            "hypothetical",
            r"\bhypothetical(ly)?\b|thought experiment|purely (academic|theoretical)|for (educational|research|academic)"
            r" purposes|just curious|asking for a friend|假设|纯属虚构|仅供(学习|研究|参考)|学术研究|只是好奇",
            False,
        ),
        ("code_task", r"```|\bdef \w+\(|\bdeque\b|\bimport \w+|\bclass \w+[:(]|\bfunction \w+\(", False),
    )
)


@dataclass(frozen=True, slots=True)
class Normalized:
    """Tier 1's output.

    Attributes:
        original: The text as received.
        text: The text with invisible characters removed and look-alike letters folded.
        readings: Extra readings to classify: decoded payloads, and for long texts their riskiest segments.
        signals: What was undone or noticed.
        lang: ``zh`` if the text is mostly Chinese, else ``en``.
    """

    original: str
    text: str
    readings: tuple[str, ...]
    signals: tuple[Signal, ...]
    lang: str


def detect_lang(text: str) -> str:
    """``zh`` when CJK characters make up at least a fifth of the letters, else ``en``."""
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 5 >= cjk + latin // 4 else "en"


def wrapper_signals(text: str) -> list[Signal]:
    """Jailbreak wrappers and framings present in ``text``."""
    out: list[Signal] = []
    for kind, pattern, jailbreak in _WRAPPERS:
        match = pattern.search(text)
        if match:
            out.append(Signal(kind=kind, detail=match.group(0)[:60], jailbreak=jailbreak))
    return out


_SEGMENT_SPLIT = re.compile(r"(?<=[.?!。？！\n])\s*|\s*(?=\b\d{1,3}[.)]\s)")

# Used only to rank segments of very long messages for classification, never to decide anything.
_RANK_TERMS = re.compile(
    r"bomb|explos|weapon|gun|kill|murder|poison|toxin|nerve|anthrax|virus|hack|malware|ransom|phish|steal|fraud|"
    r"launder|counterfeit|drug|meth|cocaine|heroin|fentanyl|suicide|overdose|self-harm|cut myself|terror|attack|"
    r"abuse|child|minor|porn|racis|slur|dox|stalk|track|password|exploit|illegal|weapon|"
    r"炸|爆|枪|毒|杀|黑客|木马|病毒|诈骗|洗钱|偷|盗|自杀|割腕|恐怖|袭击|儿童|色情|歧视|跟踪|违法|武器",
    re.IGNORECASE,
)


def long_text_segments(text: str, limit: int = MAX_SEGMENTS) -> tuple[list[str], bool]:
    """Split a long message and return the segments most likely to carry its ask.

    Returns:
        The chosen segments (original order) and whether the text looks like padding around a buried ask
        (many separate questions, or an instruction to answer only one of them).
    """
    segments = [s.strip() for s in _SEGMENT_SPLIT.split(text) if s and len(s.strip()) >= 8]
    questions = sum(1 for s in segments if s.endswith(("?", "？")) or re.match(r"\d{1,3}[.)]", s))
    pick_one = re.search(
        r"only (answer|respond to|reply to)|answer (only )?(question|item|number) \d|pick (one|the)|"
        r"只(回答|回复)|仅回答|挑(一|其中)",
        text,
        re.IGNORECASE,
    )
    padded = questions >= 10 or pick_one is not None
    unique: list[str] = []
    seen: set[str] = set()
    for seg in segments:
        key = seg.lower()
        if key not in seen:
            seen.add(key)
            unique.append(seg)
    ranked = sorted(range(len(unique)), key=lambda i: (-len(_RANK_TERMS.findall(unique[i])), i))
    chosen = sorted(ranked[:limit])
    return [unique[i][:600] for i in chosen], padded


def normalize(text: str) -> Normalized:
    """Run tier 1 on one message.

    Args:
        text: The raw message.

    Returns:
        The cleaned text, extra readings to classify, and signals naming what was undone or noticed.
    """
    signals: list[Signal] = []
    clean = text
    for kind, fn in CLEANERS:
        fixed = fn(clean)
        if fixed is not None:
            clean = fixed
            signals.append(
                Signal(kind=kind, detail="removed" if kind.startswith("invisible") else "folded", jailbreak=True)
            )
    clean = unicodedata.normalize("NFKC", clean)  # what is left is full-width punctuation and the like: quietly
    readings: list[str] = []
    for kind, decoder in DECODERS:
        decoded = decoder(clean)
        if decoded is not None and decoded.strip() and decoded != clean:
            readings.append(decoded)
            signals.append(Signal(kind=kind, detail=decoded.strip()[:40], jailbreak=True))
    signals.extend(wrapper_signals(clean))
    if len(clean) > LONG_TEXT_CHARS:
        segments, padded = long_text_segments(clean)
        readings.extend(segments)
        signals.append(Signal(kind="long_text", detail=f"{len(clean)} chars", jailbreak=padded))
    return Normalized(
        original=text, text=clean, readings=tuple(readings), signals=tuple(signals), lang=detect_lang(clean)
    )
