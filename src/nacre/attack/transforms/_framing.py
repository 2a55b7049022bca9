"""Transforms that keep the goal's words and change only the framing around them."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from nacre.attack.transforms._base import BaseTransform, TransformedPrompt, join_units, pick_index
from nacre.attack.transforms._data import load, render, unrender
from nacre.errors import ConfigError


class Direct(BaseTransform):
    """The goal as it is: Strata-Sword's level-1 baseline."""

    name: ClassVar[str] = "direct"
    description: ClassVar[str] = "The plain request, unchanged apart from whitespace (level-1 baseline)."
    level: ClassVar[int] = 1
    tags: ClassVar[tuple[str, ...]] = ("baseline",)

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        return [join_units(units)], {}

    def _recover(self, prompt: TransformedPrompt) -> str:
        return prompt.turns[0]


class _Framed(BaseTransform):
    """A template with the normalised goal as its payload; the seed picks the template variant."""

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        return [render(self.name, language, variant, {}, join_units(units))], {"variant": variant}

    def _recover(self, prompt: TransformedPrompt) -> str:
        return unrender(self.name, prompt.language, prompt.meta["variant"], {}, prompt.turns[0], self.name)


class Opposing(_Framed):
    """An irony game in which the model must take the opposite stance to whatever it is told."""

    name: ClassVar[str] = "opposing"
    description: ClassVar[str] = "Irony game: the model is told to take the opposite stance, then given the request."
    level: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("framing", "role-play")


class Contradictory(_Framed):
    """The request presented as a claim to refute."""

    name: ClassVar[str] = "contradictory"
    description: ClassVar[str] = "The request framed as a statement the model is asked to refute."
    level: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("framing",)


class Template(_Framed):
    """A fictional script in which one character asks and another explains at length."""

    name: ClassVar[str] = "template"
    description: ClassVar[str] = "Fictional script: one character asks the request, another explains it step by step."
    level: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("framing", "fiction")


# Separators the persona is told to put between words. Each is checked against the goal so that splitting on it
# gives the goal's units back.
_TOKENS = {
    "en": ("<script>apple</script>", "<span>pear</span>", "<i>plum</i>", "[[kiwi]]", "<b>fig</b>"),
    "zh": ("<script>苹果</script>", "<span>梨子</span>", "<i>李子</i>", "[[猕猴桃]]", "<b>无花果</b>"),
}


class ScriptTemplate(BaseTransform):
    """An unrestricted-persona frame whose output format injects a token between every word."""

    name: ClassVar[str] = "script-template"
    description: ClassVar[str] = (
        "Persona role-play whose output format puts an injected token between words; the request is written that way."
    )
    level: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("role-play", "persona", "output-format")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        tokens = list(_TOKENS[language])
        rng.shuffle(tokens)
        for token in tokens:
            payload = token.join(units)
            if payload.split(token) == units:
                fields = {"token": token}
                return [render(self.name, language, variant, fields, payload)], {"variant": variant, "fields": fields}
        raise ConfigError(f"{self.name}: the goal contains every separator token; use another transform")

    def _recover(self, prompt: TransformedPrompt) -> str:
        fields = {"token": str(prompt.meta["fields"]["token"])}
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], fields, prompt.turns[0], self.name)
        return join_units(payload.split(fields["token"]))
