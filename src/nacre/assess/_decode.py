"""Decoders that undo one obfuscation each; every decoder is a pure function ``str -> str | None``.

A decoder returns ``None`` when its obfuscation is not present, so the caller knows what was undone. They are
deliberately conservative: a false decode only adds a reading to classify, it never hides the original text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import re
import unicodedata
from collections.abc import Callable

# Zero-width and formatting characters used to split words invisibly; bidi controls used to reverse display.
_INVISIBLE = dict.fromkeys(
    [
        173,
        847,
        1564,
        4447,
        4448,
        6068,
        6069,
        6158,
        8288,
        8289,
        8290,
        8291,
        8292,
        65279,
        *list(range(8203, 8208)),
        *list(range(8234, 8239)),
        *list(range(8294, 8298)),
        *list(range(65024, 65040)),
        # Lone surrogates: no encoder accepts them (the tokenizer raised on them), and they render as nothing.
        *list(range(0xD800, 0xE000)),
    ],
    None,
)
_INVISIBLE_RUN = re.compile("[" + "".join(f"\\u{c:04x}" for c in _INVISIBLE) + "]+")
_ZWJ, _ZWNJ, _BOM = "\u200d", "\u200c", "\ufeff"
_PRESENTATION = frozenset(map(chr, range(0xFE00, 0xFE10)))  # variation selectors: text or emoji presentation
_DIRECTION_MARKS = frozenset("\u200e\u200f\u061c")  # LRM, RLM, ALM: order mixed right-to-left and Latin runs
_SHAPED = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\u0900-\u0dff\ufb50-\ufdff\ufe70-\ufefe]")
_RIGHT_TO_LEFT = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe]")

# Letters from other scripts that render like Latin ones (the common subset used in filter evasion).
_CONFUSABLES = str.maketrans(
    {
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
        "Х": "X", "У": "Y", "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "һ": "h", "ո": "n", "ս": "u", "Α": "A", "Β": "B", "Ε": "E",
        "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y",
        "Χ": "X", "ο": "o", "ν": "v", "α": "a", "ι": "i", "κ": "k", "ρ": "p", "τ": "t", "υ": "u",
    }
)  # fmt: skip

_LEET = str.maketrans(
    {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t", "9": "g"}
)
_LEET_TOKEN = re.compile(r"(?<![\w@$!])(?=[\w@$!]*[A-Za-z])(?=[\w@$!]*[0-9@$!])[\w@$!]{3,15}(?![\w@$!])")
_BASE64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{12,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_TOKEN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:]?){8,}(?![0-9A-Fa-f])")
# Characters and separators are disjoint classes so that the repetition cannot backtrack exponentially on
# separator-dense text such as ``|-,-|-,-|`` (a model's table rule); leading/trailing separators are allowed around
# the run so that ``|-b-o-m-b-|`` still decodes.
_SEP = r"\-_.*|/·•,+"  # the separator characters, for use inside a character class
_SPLIT_RUN = re.compile(
    rf"(?<!\S)[{_SEP}]{{0,3}}((?:[^\s{_SEP}][\s{_SEP}]{{1,3}}){{3,}}[^\s{_SEP}])[{_SEP}]{{0,3}}(?!\S)"
)
_SPLIT_GAP = re.compile(rf"[\s{_SEP}]{{1,3}}")
_SPLIT_JOIN = re.compile(rf"(?<=\S)[{_SEP} ]{{1,3}}(?=\S)")
_WORD = re.compile(r"[A-Za-z']+")

# Frequent English words: a cheap measure of whether a reading is language or noise.
_COMMON = frozenset(
    [
        "the",
        "be",
        "to",
        "of",
        "and",
        "a",
        "in",
        "that",
        "have",
        "i",
        "it",
        "for",
        "not",
        "on",
        "with",
        "he",
        "as",
        "you",
        "do",
        "at",
        "this",
        "but",
        "his",
        "by",
        "from",
        "they",
        "we",
        "say",
        "her",
        "she",
        "or",
        "an",
        "will",
        "my",
        "one",
        "all",
        "would",
        "there",
        "their",
        "what",
        "so",
        "up",
        "out",
        "if",
        "about",
        "who",
        "get",
        "which",
        "go",
        "me",
        "when",
        "make",
        "can",
        "like",
        "time",
        "no",
        "just",
        "him",
        "know",
        "take",
        "people",
        "into",
        "year",
        "your",
        "good",
        "some",
        "could",
        "them",
        "see",
        "other",
        "than",
        "then",
        "now",
        "look",
        "only",
        "come",
        "its",
        "over",
        "think",
        "also",
        "back",
        "after",
        "use",
        "two",
        "how",
        "our",
        "work",
        "first",
        "well",
        "way",
        "even",
        "new",
        "want",
        "because",
        "any",
        "these",
        "give",
        "day",
        "most",
        "us",
        "is",
        "are",
        "was",
        "were",
        "been",
        "has",
        "had",
        "did",
        "does",
        "how",
        "why",
        "where",
        "write",
        "tell",
        "explain",
        "make",
        "build",
        "create",
        "step",
        "steps",
        "instructions",
        "guide",
        "someone",
        "kill",
        "bomb",
        "weapon",
        "drug",
        "money",
        "steal",
        "hack",
        "people",
        "help",
        "need",
        "please",
    ]
)


_LATIN = re.compile(r"[A-Za-z]")
_MIXABLE = re.compile(r"[\u0370-\u03ff\u0400-\u052f\u0250-\u02af]")  # Greek, Cyrillic, IPA: Latin look-alikes


def strip_invisible(text: str) -> str | None:
    """Remove zero-width, soft-hyphen and bidi-control characters."""
    cleaned = text.translate(_INVISIBLE)
    return cleaned if cleaned != text else None


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk")  # emoji, pictographs, skin-tone modifiers


def _written_so(ch: str, before: str, after: str, first: bool) -> bool:
    """Whether an invisible character stands where ordinary writing puts it.

    ``before`` and ``after`` are the visible characters around its run (``""`` at either end of the text).
    """
    if 0xD800 <= ord(ch) < 0xE000 or (ch == _BOM and first):
        return True  # an encoding fault or a file's byte-order mark, not something a writer put there
    if ch in _PRESENTATION:
        return bool(before) and unicodedata.category(before)[0] not in "LM"  # ❤️, 1️⃣: never inside a word
    if ch == _ZWJ and _is_symbol(before or " ") and _is_symbol(after or " "):
        return True  # one emoji made of several (👩‍💻, 🏳️‍🌈)
    if ch in (_ZWJ, _ZWNJ):
        return bool(_SHAPED.match(before or " ") and _SHAPED.match(after or " "))  # Persian, Arabic, Indic words
    if ch in _DIRECTION_MARKS:
        return bool(_RIGHT_TO_LEFT.match(before or " ") or _RIGHT_TO_LEFT.match(after or " "))
    return False


def invisible_evidence(text: str) -> bool:
    """Whether ``text`` has invisible characters placed to split or disguise words.

    Some belong in ordinary writing: the joiners and presentation selectors inside emoji (every ❤️ carries one), a
    leading byte-order mark, the non-joiner in Persian, Arabic and Indic words, direction marks beside right-to-left
    letters, and lone surrogates left by a client that cut a string inside a character. :func:`strip_invisible`
    removes these too, but they are no sign of evasion.
    """
    for run in _INVISIBLE_RUN.finditer(text):
        before = text[run.start() - 1] if run.start() else ""
        after = text[run.end()] if run.end() < len(text) else ""
        first = run.start() == 0
        if not all(_written_so(ch, before, after, first and i == 0) for i, ch in enumerate(run.group(0))):
            return True
    return False


def fold_confusables(text: str) -> str | None:
    """Fold styled and full-width letters (NFKC) and Cyrillic/Greek look-alikes inside Latin words.

    Returns ``None`` when no letter changed: NFKC's folding of full-width punctuation, normal in Chinese text,
    does not count as obfuscation.
    """
    folded = unicodedata.normalize("NFKC", text)
    if _LATIN.search(folded) and _MIXABLE.search(folded):  # else no word mixes scripts: skip the per-word pass
        folded = "".join(_fold_word(w) for w in re.split(r"(\s+)", folded))
    return folded if re.sub(r"\W", "", folded) != re.sub(r"\W", "", text) else None


def _fold_word(word: str) -> str:
    # Only words that mix scripts are folded, so genuine Russian or Greek text is left alone.
    if _LATIN.search(word) and _MIXABLE.search(word):
        return word.translate(_CONFUSABLES)
    return word


# Numbers with a unit, an ordinal or a time (3am, 4th, 5kg, 1080p), dimensions (4x4) and hex literals (0x1F).
_MEASURE = re.compile(
    r"\d+(?:st|nd|rd|th|am|pm|s|k|m|g|kg|mg|ml|l|mm|cm|km|gb|mb|kb|tb|px|p|hz|khz|mhz|ghz|fps|mph|kph|ft|in|lb|lbs|"
    r"oz|hr|hrs|h|min|yo|w|kw|v|mah)|\d+[xX]\d+|0[xX][0-9A-Fa-f]+",
    re.IGNORECASE,
)
_NAME_NUMBER = re.compile(r"[A-Za-z]+\d+")  # mp3, ipv4, python3, win10, sha256; also th3, drug5
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{8,}|[0-9A-Fa-f]{4,}(?=-[0-9A-Fa-f])|(?<=[0-9A-Fa-f]-)[0-9A-Fa-f]{4,}")


def _technical(match: re.Match[str]) -> bool:
    """A token that is a measure, a name with a version number, or part of a hash or UUID, not leetspeak."""
    token = match.group(0)
    if _MEASURE.fullmatch(token):
        return True
    if _NAME_NUMBER.fullmatch(token):
        word = token.translate(_LEET).lower()
        return not (word in _COMMON or (word.endswith("s") and word[:-1] in _COMMON))
    return _HEX_GROUP.fullmatch(match.string, match.start(), match.end()) is not None


def leet_evidence(text: str) -> bool:
    """Whether ``text`` shows leetspeak as a sign of evasion.

    Stricter than :func:`unleet`, whose readings the heads were trained on: a closing "!" is punctuation, and
    measures (``3am``, ``4x4``, ``0x1F``), names with a number (``mp3``, ``ipv4``, ``python3``) and the groups of
    a hash or UUID are what they look like.
    """
    return _unleet(text, closing_bang=False, technical=False) is not None


def unleet(text: str, *, closing_bang: bool = True) -> str | None:
    """Undo leetspeak in tokens that mix letters with digits or symbols (``b0mb`` -> ``bomb``).

    Args:
        text: The text.
        closing_bang: Whether a run of "!" that closes a word is read as "i" too (``thanks!`` -> ``thanksi``).
            The assessor's heads were trained on readings made that way, so readings keep it; whether a message
            shows leetspeak *as evidence* is asked with :func:`leet_evidence`, where ``thanks!`` is punctuation.
    """
    return _unleet(text, closing_bang=closing_bang, technical=True)


def _unleet(text: str, *, closing_bang: bool, technical: bool) -> str | None:
    changed = False

    def repl(match: re.Match[str]) -> str:
        nonlocal changed
        token = match.group(0)
        digits = sum(c.isdigit() for c in token)
        if token.isdigit() or (re.fullmatch(r"[A-Za-z]+\d+|\d+[A-Za-z]+", token) and digits > len(token) - digits):
            return token  # product codes and years (abc2024, 3080ti) are not leetspeak
        if not technical and _technical(match):
            return token
        core = token if closing_bang else token.rstrip("!")
        out = core.translate(_LEET) + token[len(core) :]
        changed = changed or out != token
        return out

    out = _LEET_TOKEN.sub(repl, text)
    return out if changed else None


def _printable_ratio(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch.isprintable() or ch.isspace())
    return good / len(text)


def _decoded_text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text.strip()) < 4 or _printable_ratio(text) < 0.95:
        return None
    if not re.search(r"[A-Za-z\u4e00-\u9fff]{2}", text):
        return None
    return text


_MAX_LAYERS = 4


def decode_base64(text: str) -> str | None:
    """Decode base64 tokens that hold readable text; returns the decoded pieces joined by newlines.

    A payload that is itself base64 or hex (base64 of base64, base64 of hex) is decoded in turn, up to four layers
    in all; each layer's text is kept.
    """
    return _decode_layers(text, _decode_base64_once)


def _decode_layers(text: str, first: Callable[[str, int], str | None]) -> str | None:
    layers: list[str] = []
    decoded = first(text, _MAX_LAYERS - 1)
    while decoded is not None and len(layers) < _MAX_LAYERS:
        layers.append(decoded)
        left = _MAX_LAYERS - 1 - len(layers)
        decoded = _decode_base64_once(decoded, left) or _decode_hex_once(decoded, left)
    return "\n".join(layers) if layers else None


def _payload(raw: bytes, inner: int) -> str | None:
    """Readable text, or (with ``inner`` layers left) an ASCII payload that is base64 or hex of readable text."""
    text = _decoded_text(raw)
    if text is not None or inner <= 0 or not raw.isascii():
        return text
    encoded = raw.decode("ascii")
    if not encoded.isprintable():
        return None
    found = _decode_base64_once(encoded, inner - 1) or _decode_hex_once(encoded, inner - 1)
    return encoded if found is not None else None


def _decode_base64_once(text: str, inner: int) -> str | None:
    found: list[str] = []
    for token in _BASE64_TOKEN.findall(text):
        if token.isalpha() and (token.islower() or token.isupper()):
            continue  # a long plain word, not an encoding
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = base64.b64decode(padded, validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _payload(raw, inner)
        if decoded is not None:
            found.append(decoded)
    return "\n".join(found) if found else None


def decode_hex(text: str) -> str | None:
    """Decode runs of hex byte pairs that hold readable text (and, in turn, a payload that is base64 or hex)."""
    return _decode_layers(text, _decode_hex_once)


def _decode_hex_once(text: str, inner: int) -> str | None:
    found: list[str] = []
    for token in _HEX_TOKEN.findall(text):
        digits = re.sub(r"[\s:]", "", token)
        if len(digits) % 2:
            continue
        decoded = _payload(bytes.fromhex(digits), inner)
        if decoded is not None:
            found.append(decoded)
    return "\n".join(found) if found else None


def english_score(text: str) -> float:
    """Share of alphabetic words that are common English words."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    return sum(w in _COMMON for w in words) / len(words)


def decode_rot13(text: str) -> str | None:
    """Apply rot13 when it turns gibberish into English (or when the text names rot13)."""
    if not re.search(r"[A-Za-z]{3}", text):
        return None
    rotated = codecs.encode(text, "rot13")
    mentioned = re.search(r"rot-?13|caesar", text, re.IGNORECASE) is not None
    if english_score(rotated) > max(0.4, english_score(text) + 0.3) or (mentioned and rotated != text):
        return rotated
    return None


def reverse_chars(text: str) -> str | None:
    """Read the text backwards when that yields English (``bmob a ekam`` -> ``make a bomb``) or for CJK cues."""
    reversed_text = text[::-1]
    if english_score(reversed_text) > max(0.4, english_score(text) + 0.3):
        return reversed_text
    if re.search(r"倒序|反过来读|倒着读|reverse(d)? (order|the text)|read (it )?backwards", text, re.IGNORECASE):
        return reversed_text
    return None


def reverse_words(text: str) -> str | None:
    """Reverse word order when that reads better, or when the text stores words in a list or deque.

    Code-wrapped attacks keep the request as quoted words in reverse order inside a list; the quoted words
    are collected and returned in both orders.
    """
    quoted = re.findall(r"""['"]([^'"\n]{1,30})['"]""", text)
    if len(quoted) >= 4 and re.search(r"deque|append|list|\[|reverse|appendleft|倒序", text, re.IGNORECASE):
        forward = " ".join(quoted)
        return f"{' '.join(reversed(quoted))}\n{forward}"
    words = text.split()
    if len(words) >= 4:
        flipped = " ".join(reversed(words))
        if english_score(flipped) > english_score(text) + 0.15 and _bigram_gain(flipped, text):
            return flipped
    return None


_BIGRAMS = frozenset(
    [
        "how to",
        "to make",
        "make a",
        "a bomb",
        "to build",
        "to get",
        "step by",
        "by step",
        "how do",
        "do i",
        "i can",
        "can i",
        "to kill",
        "to hack",
        "tell me",
        "give me",
        "write a",
        "the best",
        "in the",
        "of the",
        "to the",
        "for the",
        "on the",
        "is the",
        "want to",
        "need to",
    ]
)


def _bigram_gain(candidate: str, original: str) -> bool:
    def count(s: str) -> int:
        w = [x.lower() for x in _WORD.findall(s)]
        return sum(f"{a} {b}" in _BIGRAMS for a, b in itertools.pairwise(w))

    return count(candidate) > count(original)


def join_split_characters(text: str) -> str | None:
    """Join characters split by separators or spaces (``b-o-m-b``, ``b o m b``, ``炸 . 弹``)."""
    changed = False

    def repl(match: re.Match[str]) -> str:
        nonlocal changed
        run = match.group(1)
        pieces = _SPLIT_GAP.split(run)
        if all(len(p) == 1 for p in pieces) and len(pieces) >= 4:
            changed = True
            # Two or more spaces between letters usually mark a word boundary in the hidden text.
            return _SPLIT_JOIN.sub(lambda m: " " if m.group(0).count(" ") >= 2 else "", run)
        return run

    out = _SPLIT_RUN.sub(repl, text)
    return out if changed else None


def collapse_doubled(text: str) -> str | None:
    """Collapse CJK characters that are each written twice (a riddle trick: ``炸炸弹弹`` -> ``炸弹``)."""
    cjk = re.findall(r"[\u4e00-\u9fff]", text)
    if len(cjk) < 6:
        return None
    doubled = sum(1 for a, b in zip(cjk[::2], cjk[1::2], strict=False) if a == b)
    if doubled < 0.6 * (len(cjk) // 2):
        return None
    return re.sub(r"([\u4e00-\u9fff])\1", r"\1", text)


def acrostic(text: str) -> str | None:
    """Read the heads of a poem-shaped text's lines when the text asks for it (藏头诗).

    The first character of each line, or the first word when the text asks for words (an English acrostic of
    whole words).
    """
    cue = re.compile(
        r"藏头|首字|第一个字|开头的字|\bfirst (letter|character|word)s?\b[^.\n]{0,20}\blines?\b|acrostic", re.IGNORECASE
    )
    if not cue.search(text):
        return None
    # The poem is the paragraph with the most short lines; instructions around it are other paragraphs or cue lines.
    paragraphs = [
        [ln.strip() for ln in block.splitlines() if ln.strip() and len(ln.strip()) <= 60 and not cue.search(ln)]
        for block in re.split(r"\n\s*\n", text)
    ]
    poem = max(paragraphs, key=len)
    if re.search(r"first words?\b|首词|第一个词", text, re.IGNORECASE):
        words = [ln.split()[0] for ln in poem]
        return " ".join(words) if len(poem) >= 4 else None
    poem = [ln for ln in poem if len(ln) <= 40]
    heads = "".join(ln[0] for ln in poem if ln[0].isalnum())
    return heads if len(poem) >= 4 and len(heads) >= 3 else None


_INDEX_MARK = re.compile(r"[【\[(<{]\s*\d{1,3}\s*[】\])>}]")


def strip_index_marks(text: str) -> str | None:
    """Remove bracketed position numbers written after every character or word (``炸【1】弹【2】``, ``bomb(1)``)."""
    marks = _INDEX_MARK.findall(text)
    if len(marks) < 5:
        return None
    gaps = [len(piece.strip()) for piece in _INDEX_MARK.split(text)[1:-1]]
    if not gaps or sorted(gaps)[len(gaps) // 2] > 4:
        return None  # a numbered list or references, not a split sentence
    return _INDEX_MARK.sub("", text)


# Applied to the text in place (what they change is never meaningful content).
CLEANERS = (
    ("invisible_characters", strip_invisible),
    ("confusables", fold_confusables),
)
# Each adds a separate reading of the text to classify.
DECODERS = (
    ("split_characters", join_split_characters),
    ("index_marks", strip_index_marks),
    ("leetspeak", unleet),
    ("base64", decode_base64),
    ("hex", decode_hex),
    ("rot13", decode_rot13),
    ("reversed_text", reverse_chars),
    ("reversed_words", reverse_words),
    ("doubled_characters", collapse_doubled),
    ("acrostic", acrostic),
)
DECODED_KINDS = frozenset(kind for kind, _ in (*CLEANERS, *DECODERS))
