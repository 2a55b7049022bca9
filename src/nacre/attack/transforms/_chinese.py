"""Chinese-only character games: split characters with position markers, and doubled characters in a riddle."""

from __future__ import annotations

import random
import re
from typing import Any, ClassVar

from nacre.attack.transforms._base import (
    WIDE_CHARS,
    BaseTransform,
    TransformedPrompt,
    is_wide,
    join_units,
    pick_index,
    segment,
)
from nacre.attack.transforms._data import load, render, unrender
from nacre.errors import ConfigError

# Full-width brackets only: being wide, they can never merge into a Latin unit of the goal, which keeps the
# character-by-character parse unambiguous.
_BRACKETS = (("〔", "〕"), ("【", "】"), ("〈", "〉"), ("［", "］"))


class CharacterSplit(BaseTransform):
    """Each character of the goal followed by a bracketed position marker.

    Strata-Sword follows each character with its components (e.g. 好 -> 女子). Shipping a full component
    dictionary is out of scope, so the split here is visible but dictionary-free: every unit is tagged with its
    position, e.g. ``做〔1〕面〔2〕包〔3〕``.
    """

    name: ClassVar[str] = "character-split"
    description: ClassVar[str] = (
        "Chinese only: every character tagged with a bracketed position marker inside a split-the-characters game."
    )
    level: ClassVar[int] = 3
    languages: ClassVar[tuple[str, ...]] = ("zh",)
    tags: ClassVar[tuple[str, ...]] = ("encoding", "zh-only")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        opening, closing = _BRACKETS[pick_index(rng, _BRACKETS)]
        payload = "".join(f"{unit}{opening}{n}{closing}" for n, unit in enumerate(units, 1))
        text = render(self.name, language, variant, {}, payload)
        return [text], {"variant": variant, "brackets": [opening, closing], "characters": len(units)}

    def _recover(self, prompt: TransformedPrompt) -> str:
        opening, closing = (str(b) for b in prompt.meta["brackets"])
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], {}, prompt.turns[0], self.name)
        pattern = re.compile(f"([{WIDE_CHARS}]|[^{WIDE_CHARS}\\s]+){re.escape(opening)}(\\d+){re.escape(closing)}")
        units: list[str] = []
        pos = 0
        while pos < len(payload):
            match = pattern.match(payload, pos)
            if match is None or int(match.group(2)) != len(units) + 1:
                raise ConfigError(
                    f"cannot recover the goal: character-split marker missing near {payload[pos:][:20]!r}"
                )
            units.append(match.group(1))
            pos = match.end()
        return join_units(units)


class LanternRiddle(BaseTransform):
    """Every character of the goal written twice, inside a lantern-riddle framing with a forced opening."""

    name: ClassVar[str] = "lantern-riddle"
    description: ClassVar[str] = (
        "Chinese only: every character doubled inside a Lantern Festival riddle frame with a forced opening phrase."
    )
    level: ClassVar[int] = 3
    languages: ClassVar[tuple[str, ...]] = ("zh",)
    tags: ClassVar[tuple[str, ...]] = ("encoding", "riddle", "zh-only")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        doubled: list[str] = []
        for unit in units:
            # A Latin run is doubled in place ("AI" -> "AIAI") so it stays one unit; a character becomes two.
            doubled.extend((unit, unit) if is_wide(unit) else (unit + unit,))
        return [render(self.name, language, variant, {}, join_units(doubled))], {"variant": variant}

    def _recover(self, prompt: TransformedPrompt) -> str:
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], {}, prompt.turns[0], self.name)
        doubled = segment(payload)
        units: list[str] = []
        i = 0
        while i < len(doubled):
            unit = doubled[i]
            if is_wide(unit):
                if i + 1 >= len(doubled) or doubled[i + 1] != unit:
                    raise ConfigError(f"cannot recover the goal: lantern-riddle character {unit!r} is not doubled")
                units.append(unit)
                i += 2
                continue
            half = len(unit) // 2
            if len(unit) % 2 or unit[:half] != unit[half:]:
                raise ConfigError(f"cannot recover the goal: lantern-riddle run {unit[:20]!r} is not doubled")
            units.append(unit[:half])
            i += 1
        return join_units(units)
