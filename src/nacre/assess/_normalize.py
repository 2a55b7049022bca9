"""Tier 1: normalise text, undo obfuscations, and notice jailbreak wrappers and framings.

The result keeps the original and adds *readings*: the cleaned text, each decoded payload, the parts of a wrapped
message that may carry its ask (a quoted passage the reader is told to unscramble, the text after a short label, a
list item singled out for answering, the request without its "refute this" clause), and for very long messages the
segments most likely to carry the real ask. The classifier scores every reading and keeps the riskiest, so an
extraction that fires by mistake costs a little time but never hides anything.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nacre.assess._decode import CLEANERS, DECODERS, invisible_evidence, leet_evidence
from nacre.assess._phatic import is_content_free
from nacre.assess._topicless import is_topicless_task
from nacre.assess._types import Signal

LONG_TEXT_CHARS = 1500

# The signal on a message that says nothing beyond a greeting, thanks or acknowledgement: the classifier does not
# read it (see nacre.assess._phatic).
CONTENT_FREE = "content_free"
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
        readings: Extra readings to classify: decoded payloads, the parts of a wrapped message that may carry its
            ask, and for long texts their riskiest segments.
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


# The second branch starts only where a whitespace run starts: tried inside a run it could only fail (or split off
# an empty piece) and rescanned the rest of the run at every position, quadratic in the run's length.
_SEGMENT_SPLIT = re.compile(r"(?<=[.?!。？！\n])\s*|(?<!\s)\s*(?=\b\d{1,3}[.)]\s)")

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


_ITEM_START = re.compile(r"(?:^|(?<=\s))(\d{1,3})\s*[.)、．]\s*")
_ITEM_MARK = re.compile(r"\([^()\n]{1,6}\)|\[[^\]\n]{1,8}\]|【[^】\n]{1,8}】|[^\w\s\"“「'‘(（\[【]{1,3}")
_PICK_NUMBER = re.compile(
    r"\b(?:answer|respond to|reply to|address|only)\b[^.\n]{0,30}?\b(?:question|item|number|no\.|#)\s*(\d{1,3})\b"
    r"|(?:只|仅)?(?:回答|回复)[^。\n]{0,6}?第\s*(\d{1,3})\s*(?:个|题|条|项|问)",
    re.IGNORECASE,
)


def _list_items(text: str) -> dict[int, str]:
    """The items of a numbered list (1, 2, 3, ... in order, inline or one per line): number -> item text."""
    starts: list[tuple[int, int, int]] = []  # (number, start of the number, start of the body)
    for match in _ITEM_START.finditer(text):
        number = int(match.group(1))
        if number == (starts[-1][0] + 1 if starts else 1):
            starts.append((number, match.start(), match.end()))
    items: dict[int, str] = {}
    for i, (number, _, body) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        line = text[body:stop].split("\n", 1)[0].strip()
        if line:
            items[number] = line[:600]
    return items


def singled_out_item(text: str) -> str | None:
    """The item of a numbered list that the text singles out for answering, without its marker.

    An item is singled out when an instruction names its number ("only answer question 40", "只回答第40题"), or when
    it alone starts with a marker such as ``(!)``, ``*`` or ``【重点】`` that no other item carries.
    """
    items = _list_items(text)
    if len(items) < 5:
        return None
    for match in _PICK_NUMBER.finditer(text):
        number = int(match.group(1) or match.group(2))
        if number in items:
            return items[number]
    marked: dict[str, list[int]] = {}
    for number, item in items.items():
        mark = _ITEM_MARK.match(item)
        if mark:
            marked.setdefault(mark.group(0), []).append(number)
    lone = [numbers[0] for numbers in marked.values() if len(numbers) == 1]
    if len(lone) != 1 or len(marked) > 2:
        return None
    item = items[lone[0]]
    rest = _ITEM_MARK.sub("", item, count=1).strip()
    return rest or None


# Pairs of any length are matched, so that a short quotation never lends its closing mark to the next one.
_QUOTED = re.compile(r"“([^“”]*)”|\"([^\"\n]*)\"|「([^「」]*)」|『([^『』]*)』")
_WORDS = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _substantial(passage: str, words: int = 4, cjk: int = 8) -> bool:
    """Long enough to be a request of its own: at least ``words`` English words or ``cjk`` CJK characters."""
    return len(_WORDS.findall(passage)) >= words or len(_CJK.findall(passage)) >= cjk


def quoted_passages(text: str) -> list[str]:
    """Quoted passages long enough to be a request of their own (at least four words or eight CJK characters)."""
    out: list[str] = []
    for match in _QUOTED.finditer(text):
        passage = next((group for group in match.groups() if group), "").strip()
        if len(passage) <= 600 and _substantial(passage) and passage not in out:
            out.append(passage)
    return out


_REORDER_CUE = re.compile(
    r"\b(scrambl|shuffl|jumbl|unscrambl|rearrang|reorder)\w*|\b(word|random|wrong|mixed[- ]up) order\b|out of order"
    r"|打乱|乱序|语序|顺序|重新排列|重排|颠倒",
    re.IGNORECASE,
)
_LABELLED = re.compile(r"^[^\S\n]*[^:：\n]{1,16}[:：][^\S\n]*(\S[^\n]{3,600})$", re.MULTILINE)


def labelled_passages(text: str) -> list[str]:
    """What follows a short label on its own line ("Question: ...", "角色甲的问题：..."), when long enough to be a request."""
    out: list[str] = []
    for match in _LABELLED.finditer(text):
        passage = match.group(1).strip()
        if _substantial(passage) and passage not in out:
            out.append(passage)
    return out


_CLAUSE_SPLIT = re.compile(r"(?<=[,.;!?，。；！？\n])")


def without_refute_framing(text: str) -> str | None:
    """The text without the clauses that ask to refute or debunk it, or ``None`` when nothing substantial is left."""
    refute = next(pattern for kind, pattern, _ in _WRAPPERS if kind == "refute")
    clauses = _CLAUSE_SPLIT.split(text)
    kept = [c for c in clauses if not refute.search(c)]
    if len(kept) == len(clauses):
        return None
    rest = "".join(kept).strip().rstrip(",，;；")
    return rest if _substantial(rest, words=3, cjk=6) else None


_SENTENCE_SPLIT = re.compile(r"(?<=[.?!。？！\n])\s*")
_MIN_REPEATS = 4


def without_repeated_filler(text: str) -> str | None:
    """The text without sentences it repeats over and over, when those make up most of it.

    The same harmless sentence said again and again ("The weather is nice today. The weather is nice today. ...")
    carries nothing, but read whole it outweighs the one sentence that asks for something.
    """
    sentences = [p.strip() for p in _SENTENCE_SPLIT.split(text) if p.strip()]
    if len(sentences) < _MIN_REPEATS + 1:
        return None
    counts: dict[str, int] = {}
    for sentence in sentences:
        counts[sentence] = counts.get(sentence, 0) + 1
    filler = {sentence for sentence, n in counts.items() if n >= _MIN_REPEATS}
    if sum(len(s) * counts[s] for s in filler) * 2 < len(text):
        return None
    rest = " ".join(sentence for sentence in sentences if sentence not in filler)
    return rest if _substantial(rest) else None


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
            # Invisible characters where ordinary writing puts them (inside an emoji, say) are no sign of evasion.
            evidence = kind != "invisible_characters" or invisible_evidence(clean)
            clean = fixed
            signals.append(
                Signal(kind=kind, detail="removed" if kind.startswith("invisible") else "folded", jailbreak=evidence)
            )
    clean = unicodedata.normalize("NFKC", clean)  # what is left is full-width punctuation and the like: quietly
    readings: list[str] = []
    for kind, decoder in DECODERS:
        decoded = decoder(clean)
        if decoded is not None and decoded.strip() and decoded != clean:
            readings.append(decoded)
            # "thanks!" is read as "thanksi" (the heads learned from such readings), but is no sign of evasion.
            evidence = kind != "leetspeak" or leet_evidence(clean)
            signals.append(Signal(kind=kind, detail=decoded.strip()[:40], jailbreak=evidence))
    wrappers = wrapper_signals(clean)
    signals.extend(wrappers)
    extracted: list[str] = []
    if wrappers:
        # Read alone, reported speech loses the context that makes it harmless ("my boss said 'nobody would hire
        # you'"), so quotations count only where a jailbreak is evident or the reader is told to unscramble them.
        if any(s.jailbreak for s in wrappers) or _REORDER_CUE.search(clean):
            extracted.extend(quoted_passages(clean))
        extracted.extend(labelled_passages(clean))
        if any(s.kind == "refute" for s in wrappers):
            extracted.append(without_refute_framing(clean) or "")
    extracted.append(singled_out_item(clean) or "")
    extracted.append(without_repeated_filler(clean) or "")
    if len(clean) > LONG_TEXT_CHARS:
        segments, padded = long_text_segments(clean)
        extracted.extend(segments)
        signals.append(Signal(kind="long_text", detail=f"{len(clean)} chars", jailbreak=padded))
    readings.extend(dict.fromkeys(r for r in extracted if r and r != clean and r not in readings))
    # A closing "!" alone ("Thanks!") is punctuation, and an emoji's joiners are part of it: such a message is as
    # content-free as without them. With nothing visible left (only invisible characters were sent) there is no
    # request to read, whatever hid it.
    incidental = bool(signals) and all(
        s.kind in ("leetspeak", "invisible_characters") and not s.jailbreak for s in signals
    )
    quiet = incidental or not (readings or signals) or not clean.strip()
    # A framing ("tell me a story") around nothing: with no topic there is nothing for it to wrap.
    framing_only = bool(signals) and all(s.kind in ("fiction", "roleplay", "hypothetical") for s in signals)
    detail = None
    if quiet and is_content_free(clean):
        detail = "a greeting, thanks or acknowledgement alone"
    elif (quiet or framing_only) and is_topicless_task(clean):
        detail = "a request for a kind of output with no topic"
    if detail is not None:
        readings, signals = [], [Signal(CONTENT_FREE, detail, jailbreak=False)]
    return Normalized(
        original=text, text=clean, readings=tuple(readings), signals=tuple(signals), lang=detect_lang(clean)
    )
