"""Transforms that encode the goal in a structure the model has to decode: cells, code, fragments."""

from __future__ import annotations

import json
import random
import re
from typing import Any, ClassVar

from nacre.attack.transforms._base import BaseTransform, TransformedPrompt, join_units, pick_index, segment
from nacre.attack.transforms._data import load, render, unrender
from nacre.errors import ConfigError

# Cell walls for the ASCII-drawing request; the first one whose split gives the units back is used.
_BARS = ("|", "¦", "‖", "│")


def _cells(units: list[str], bar: str) -> str:
    return f"{bar}-" + f"-{bar}-".join(units) + f"-{bar}"


def _uncells(payload: str, bar: str) -> list[str]:
    head, tail = f"{bar}-", f"-{bar}"
    if not payload.startswith(head) or not payload.endswith(tail) or len(payload) < len(head) + len(tail):
        raise ConfigError("cannot recover the goal: the ascii-drawing cells are malformed")
    return payload[len(head) : len(payload) - len(tail)].split(f"-{bar}-")


class AsciiDrawing(BaseTransform):
    """The request split into delimited cells, with an instruction to answer as ASCII art."""

    name: ClassVar[str] = "ascii-drawing"
    description: ClassVar[str] = "Request split into |-delimited-| cells plus an instruction to answer in ASCII art."
    level: ClassVar[int] = 2
    tags: ClassVar[tuple[str, ...]] = ("encoding", "output-format")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        for bar in _BARS:
            payload = _cells(units, bar)
            if _uncells(payload, bar) == units:
                text = render(self.name, language, variant, {}, payload)
                return [text], {"variant": variant, "bar": bar, "cells": len(units)}
        raise ConfigError(f"{self.name}: the goal contains every cell delimiter {list(_BARS)}; use another transform")

    def _recover(self, prompt: TransformedPrompt) -> str:
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], {}, prompt.turns[0], self.name)
        return join_units(_uncells(payload, str(prompt.meta["bar"])))


_VARS = ("my_stack", "task_stack", "word_stack")


class CodeAttack(BaseTransform):
    """The goal stored as reversed words in a Python deque, inside code the model is asked to complete."""

    name: ClassVar[str] = "code-attack"
    description: ClassVar[str] = (
        "Request pushed word by word, in reverse, onto a Python deque inside code the model must complete."
    )
    level: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("encoding", "code")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        var = _VARS[pick_index(rng, _VARS)]
        # JSON string literals are valid Python string literals, and json.loads reads them back exactly.
        lines = [f"    {var}.append({json.dumps(unit, ensure_ascii=False)})" for unit in reversed(units)]
        text = render(self.name, language, variant, {"var": var}, "\n".join(lines))
        return [text], {"variant": variant, "fields": {"var": var}, "words": len(units)}

    def _recover(self, prompt: TransformedPrompt) -> str:
        var = str(prompt.meta["fields"]["var"])
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], {"var": var}, prompt.turns[0], self.name)
        head, units = f"    {var}.append(", []
        for line in payload.split("\n"):
            if not line.startswith(head) or not line.endswith(")"):
                raise ConfigError(f"cannot recover the goal: unexpected code-attack line {line[:60]!r}")
            literal = json.loads(line[len(head) : -1])
            if not isinstance(literal, str):
                raise ConfigError(f"cannot recover the goal: code-attack line {line[:60]!r} holds no string")
            units.append(literal)
        return join_units(units[::-1])


# How many units one fragment takes: English words carry more meaning than single Chinese characters.
_FRAGMENT_SIZE = {"en": (1, 3), "zh": (2, 4)}
_LABEL = re.compile(r"\[P(\d+)\]")


class DrAttack(BaseTransform):
    """Decomposition and reconstruction, after DrAttack (Li et al., 2024).

    The goal is cut into phrase fragments, listed under labels in a shuffled order, with an assembly order and a
    benign worked example showing how to reassemble and answer. Unlike the paper, no LLM is used to parse or to
    substitute synonyms: fragments are contiguous spans chosen by the seed.
    """

    name: ClassVar[str] = "dr-attack"
    description: ClassVar[str] = (
        "Request cut into labelled phrase fragments in shuffled order, with an assembly order and a benign demo."
    )
    level: ClassVar[int] = 3
    tags: ClassVar[tuple[str, ...]] = ("decomposition", "in-context")

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        variant = pick_index(rng, load().variants(self.name, language))
        lo, hi = _FRAGMENT_SIZE[language]
        fragments: list[list[str]] = []
        start = 0
        while start < len(units):
            size = rng.randint(lo, hi)
            fragments.append(units[start : start + size])
            start += size
        listing = list(range(len(fragments)))
        rng.shuffle(listing)
        # Labels follow the listing, so P1 is the first piece shown; the order line then reads scrambled.
        label_of = {fragment: n for n, fragment in enumerate(listing, 1)}
        lines = [f"[P{n}] {json.dumps(join_units(fragments[f]), ensure_ascii=False)}" for n, f in enumerate(listing, 1)]
        fields = {"order": " ".join(f"[P{label_of[f]}]" for f in range(len(fragments)))}
        text = render(self.name, language, variant, fields, "\n".join(lines))
        return [text], {"variant": variant, "fields": fields, "fragments": len(fragments)}

    def _recover(self, prompt: TransformedPrompt) -> str:
        fields = {"order": str(prompt.meta["fields"]["order"])}
        payload = unrender(self.name, prompt.language, prompt.meta["variant"], fields, prompt.turns[0], self.name)
        pieces: dict[int, str] = {}
        for line in payload.split("\n"):
            label, sep, literal = line.partition(" ")
            match = _LABEL.fullmatch(label)
            value = json.loads(literal) if sep and match else None
            if match is None or not isinstance(value, str):
                raise ConfigError(f"cannot recover the goal: unexpected dr-attack piece {line[:60]!r}")
            pieces[int(match.group(1))] = value
        units: list[str] = []
        for label in _LABEL.findall(fields["order"]):
            units.extend(segment(pieces[int(label)]))
        return join_units(units)
