"""A real multi-turn conversation that climbs from general background to the goal in its last turn."""

from __future__ import annotations

import random
import re
import string
from typing import Any, ClassVar

from nacre.attack.transforms._base import BaseTransform, TransformedPrompt, join_units, pick_index
from nacre.attack.transforms._data import STAGES, load, render, unrender
from nacre.errors import ConfigError

# fmt: off
_EN_STOP = frozenset((
    "a", "an", "the", "to", "of", "and", "or", "in", "on", "for", "with", "about", "how", "what", "why", "when",
    "where", "which", "who", "whom", "is", "are", "was", "were", "be", "been", "can", "could", "would",
    "should", "will", "do", "does", "did", "i", "me", "my", "mine", "you", "your", "we", "our", "us", "it",
    "its", "this", "that", "these", "those", "there", "their", "they", "them", "please", "explain", "describe",
    "tell", "give", "write", "show", "make", "help", "list", "some", "any", "from", "into", "at", "by", "as",
    "not", "no", "so", "if", "then", "than", "just", "very", "more", "most", "much", "many", "general", "terms",
    "way", "ways", "step", "steps", "detail", "detailed", "details", "simple", "briefly",
))
# Function words and request verbs, longest first so that e.g. 为什么 goes before 什么.
_ZH_STOP = sorted((
    "为什么", "如何", "怎么", "怎样", "什么", "哪些", "哪个", "请问", "请", "的", "了", "吗", "呢",
    "吧", "一个", "一下", "一些", "我们", "你们", "他们", "我", "你", "他", "她", "它", "和", "与",
    "或", "在", "是", "把", "给", "帮我", "帮", "写", "讲讲", "讲解", "讲", "解释", "描述", "说明",
    "介绍", "告诉", "关于", "可以", "能够", "能", "要", "会", "一般", "大致", "详细", "步骤", "用",
), key=len, reverse=True)
# fmt: on
_ZH_SPLIT = re.compile("|".join(map(re.escape, _ZH_STOP)) + r"|[^\u4e00-\u9fff]+")
_FALLBACK = {"en": "this topic", "zh": "这个话题"}
_ZH_CHUNK = 4
_TOP = 4


def topics(units: list[str], language: str) -> list[str]:
    """Up to four topic phrases for the early turns, longest first.

    English: content words and pairs of adjacent content words. Chinese (no word segmenter): stop words and request
    verbs are cut out and what remains is split evenly into chunks of two to four characters. Returns a generic
    phrase when nothing is left.
    """
    found: list[str] = []
    if language == "en":
        words = [w.strip(string.punctuation).lower() for w in units]
        keep = [len(w) >= 3 and any(c.isalpha() for c in w) and w not in _EN_STOP for w in words]
        for i, word in enumerate(words):
            if keep[i]:
                found.append(word)
                if i + 1 < len(words) and keep[i + 1]:
                    found.append(f"{word} {words[i + 1]}")
    else:
        for run in _ZH_SPLIT.split(join_units(units)):
            if len(run) < 2:
                continue
            # Even chunks (5 -> 2+3, not 4+1) so that no single leftover character is lost from the topic.
            count = -(-len(run) // _ZH_CHUNK)
            sizes = [len(run) // count + (1 if i >= count - len(run) % count else 0) for i in range(count)]
            start = 0
            for size in sizes:
                found.append(run[start : start + size])
                start += size
    # Longer phrases name the topic better than stray single words, so the early turns draw from those.
    ranked = sorted(dict.fromkeys(found), key=len, reverse=True)[:_TOP]
    return ranked or [_FALLBACK[language]]


class MultiTurnEscalation(BaseTransform):
    """Four or five user turns: background, concepts, mechanics, practice (one may be skipped), then the goal.

    The early turns are generic, benign questions about topic words taken from the goal; only the last turn
    carries the goal itself. Unlike Strata-Sword, which stores its multi-turn prompts in one cell and sends them
    as one message, these are separate turns to send one after another.
    """

    name: ClassVar[str] = "multi-turn-escalation"
    description: ClassVar[str] = (
        "4-5 user turns rising from general background on the goal's topic words to the goal in the final turn."
    )
    level: ClassVar[int] = 3
    multi_turn: ClassVar[bool] = True
    tags: ClassVar[tuple[str, ...]] = ("multi-turn", "escalation")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        data = load()
        stages = list(STAGES) if rng.random() < 0.5 else sorted(rng.sample(STAGES, len(STAGES) - 1), key=STAGES.index)
        candidates = topics(units, language)
        turns: list[str] = []
        variants: list[int] = []
        for stage in stages:
            key = f"{self.name}/{stage}"
            variant = pick_index(rng, data.variants(key, language))
            topic = candidates[pick_index(rng, candidates)]
            # str.replace scans the template once, so braces inside a topic are never treated as placeholders.
            turns.append(data.variants(key, language)[variant].replace("{topic}", topic))
            variants.append(variant)
        final = pick_index(rng, data.variants(f"{self.name}/final", language))
        turns.append(render(f"{self.name}/final", language, final, {}, join_units(units)))
        return turns, {"stages": stages, "variants": variants, "final_variant": final, "turn_count": len(turns)}

    def _recover(self, prompt: TransformedPrompt) -> str:
        if len(prompt.turns) < 2:
            raise ConfigError("cannot recover the goal: a multi-turn-escalation prompt has at least two turns")
        final = prompt.meta["final_variant"]
        return unrender(f"{self.name}/final", prompt.language, final, {}, prompt.turns[-1], self.name)
