"""Content-free messages: greetings, thanks, acknowledgements and the like, which say nothing about risk.

The classifier was trained on requests and disclosures, so a bare "你好" or "x" lies outside everything it has
seen and its reading of one is noise (a greeting once read as a privacy threat). Such a message carries no evidence
about harm or about who is writing; read together with earlier turns it is not content-free any more, and the
conversation level reads it in that context as usual.
"""

from __future__ import annotations

import re

_ENGLISH = (
    # greetings
    "hi",
    "hello",
    "hey",
    "hiya",
    "howdy",
    "yo",
    "there",
    "good morning",
    "good afternoon",
    "good evening",
    "morning",
    "evening",
    "how are you",
    "how are you doing",
    "how are you today",
    "how are you doing today",
    "how r u",
    "how s it going",
    "how is it going",
    "how have you been",
    "what s up",
    "whats up",
    "sup",
    "nice to meet you",
    "good to see you",
    "how do you do",
    # thanks and politeness
    "thanks",
    "thank you",
    "thank u",
    "so much",
    "a lot",
    "very much",
    "many thanks",
    "thx",
    "ty",
    "cheers",
    "much appreciated",
    "appreciate it",
    "please",
    "sorry",
    "no problem",
    "np",
    "you too",
    "same to you",
    # acknowledgements
    "ok",
    "okay",
    "okey",
    "k",
    "alright",
    "all right",
    "got it",
    "gotcha",
    "i see",
    "understood",
    "noted",
    "sure",
    "sure thing",
    "fine",
    "cool",
    "great",
    "nice",
    "perfect",
    "awesome",
    "good",
    "sounds good",
    "makes sense",
    "right",
    "oh",
    "ah",
    "uh huh",
    "wow",
    "i thought so",
    # yes and no
    "yes",
    "yeah",
    "yep",
    "yup",
    "no",
    "nope",
    "nah",
    "maybe",
    "not really",
    "of course",
    # farewells
    "bye",
    "goodbye",
    "see you",
    "see ya",
    "later",
    "good night",
    "night",
    # laughter
    "lol",
    "lmao",
)

_CHINESE = (
    "你好",
    "您好",
    "嗨",
    "哈喽",
    "早",
    "早上好",
    "上午好",
    "下午好",
    "晚上好",
    "晚安",
    "在吗",
    "在不在",
    "你好吗",
    "您好吗",
    "最近好吗",
    "最近还好吗",
    "最近怎么样",
    "你怎么样",
    "谢谢",
    "谢谢你",
    "谢谢您",
    "多谢",
    "感谢",
    "谢了",
    "谢啦",
    "辛苦了",
    "不客气",
    "麻烦了",
    "好的",
    "好",
    "好吧",
    "好滴",
    "好嘞",
    "嗯",
    "哦",
    "噢",
    "喔",
    "行",
    "可以",
    "是",
    "是的",
    "对",
    "对的",
    "没错",
    "不",
    "不是",
    "没有",
    "不用了",
    "收到",
    "明白",
    "明白了",
    "懂了",
    "知道了",
    "了解",
    "再见",
    "拜拜",
    "回头见",
    "哈",
    "呵呵",
    "嘿嘿",
    "没事",
    "没关系",
    "啊",
    "呀",
    "吧",
    "了",
    "呢",
    "哇",
)

# Elongated and repeated forms ("okkk", "hahaha", "yesss", "byeee", "hmmm").
_STRETCHED = re.compile(
    r"(?:ha)+h?|(?:he)+|lo+l|lmf?a+o+|o+k+|k+|y+e+s+|y+a+y*|no+|hm+|mh?m+|a+h+|o+h+|w+o+w+|by+e+|hi+|he+y+|th+x+|ty+"
)
_TOKEN = re.compile(r"[a-z0-9]+|[^\W_]")
_CJK = re.compile(r"[\u3400-\u9fff]")
_MAX_CHARS = 60


def _phrases() -> frozenset[tuple[str, ...]]:
    english = {tuple(p.split()) for p in _ENGLISH}
    chinese = {tuple(p) for p in _CHINESE}
    return frozenset(english | chinese)


_PHRASES = _phrases()
_LONGEST = max(len(p) for p in _PHRASES)


def _tokens(text: str) -> list[str] | None:
    """Latin words and digits as tokens, each CJK character as one; ``None`` for any other script."""
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if not (token.isascii() or _CJK.fullmatch(token)):
            return None
        out.append(token)
    return out


def is_content_free(text: str) -> bool:
    """Whether a message says nothing beyond a greeting, thanks, an acknowledgement, yes/no or the like.

    True for an empty or punctuation-only message, a single Latin letter or digit, and any sequence of phrases from
    a closed English and Chinese list ("ok thanks", "好的谢谢", "hahaha"). Anything else, however short, is not.
    """
    if len(text) > _MAX_CHARS:
        return False
    tokens = _tokens(text)
    if tokens is None:
        return False
    if not tokens or (len(tokens) == 1 and len(tokens[0]) == 1 and tokens[0].isascii()):
        return True
    covered = [True] + [False] * len(tokens)  # covered[i]: the first i tokens split into phrases
    for end in range(1, len(tokens) + 1):
        for start in range(max(0, end - _LONGEST), end):
            if covered[start] and (
                tuple(tokens[start:end]) in _PHRASES or (end - start == 1 and _STRETCHED.fullmatch(tokens[start]))
            ):
                covered[end] = True
                break
    return covered[-1]
