"""Transforms that scramble the order of the goal's words (Chinese: characters)."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from nacre.attack.transforms._base import (
    BaseTransform,
    TransformedPrompt,
    join_units,
    permute,
    pick_index,
    segment,
    unpermute,
)
from nacre.attack.transforms._data import load, render, unrender


def _restore(scrambled: str, order: Any) -> str:
    if not isinstance(order, list) or not all(isinstance(i, int) for i in order):
        raise ValueError("meta 'order' must be a list of integers")
    return join_units(unpermute(segment(scrambled), order))


class Shuffle(BaseTransform):
    """The goal's units in a seeded random order, and nothing else.

    ``recover`` undoes the permutation stored in ``meta["order"]``; the scrambled text alone has the same multiset
    of units as the goal.
    """

    name: ClassVar[str] = "shuffle"
    description: ClassVar[str] = "Word order permuted (Chinese: character order); the scrambled request is the prompt."
    level: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("reorder", "obfuscation")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        order = permute(rng, units)
        return [join_units([units[i] for i in order])], {"order": order}

    def _recover(self, prompt: TransformedPrompt) -> str:
        return _restore(prompt.turns[0], prompt.meta["order"])


# Emoji the storyteller sprinkles between words; one per prompt, chosen by the seed.
_EMOJI = ("🌟", "🚀", "🌈", "🐱", "🍀", "✨", "🎈", "🌙")


class ShuffleTemplate(BaseTransform):
    """A science-fiction story whose characters speak in scrambled word order, with emoji between words."""

    name: ClassVar[str] = "shuffle-template"
    description: ClassVar[str] = (
        "Fiction where characters speak in shuffled word order with emoji; the request is asked in scrambled form."
    )
    level: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("reorder", "fiction", "output-format")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        fields = {"emoji": _EMOJI[pick_index(rng, _EMOJI)]}
        order = permute(rng, units)
        text = render(self.name, language, variant, fields, join_units([units[i] for i in order]))
        return [text], {"variant": variant, "fields": fields, "order": order}

    def _recover(self, prompt: TransformedPrompt) -> str:
        fields = {"emoji": str(prompt.meta["fields"]["emoji"])}
        scrambled = unrender(self.name, prompt.language, prompt.meta["variant"], fields, prompt.turns[0], self.name)
        return _restore(scrambled, prompt.meta["order"])
