"""The transform value types, goal segmentation and normalisation, and the shared base class.

Every transform works on *units* of the goal: a run of non-CJK characters between spaces (an English word with
its punctuation) or a single CJK character. :func:`segment` and :func:`join_units` convert between the two, and
``join_units(segment(text))`` is the normalised goal that :meth:`Transform.recover` returns.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from nacre.errors import ConfigError

LANGUAGES: tuple[str, ...] = ("en", "zh")

# Ideographs (including the compatibility and supplementary blocks) decide the language; kana, CJK punctuation and
# full-width forms are only "wide": written without spaces, so each one is a unit of its own.
_IDEOGRAPH = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
# A regular-expression character-class body (ranges, no brackets), for building patterns over units.
WIDE_CHARS = _IDEOGRAPH + "\u3000-\u303f\u3040-\u30ff\u3100-\u312f\uff00-\uffef"
_IDEOGRAPH_RE = re.compile(f"[{_IDEOGRAPH}]")
_WIDE_RE = re.compile(f"[{WIDE_CHARS}]")
_UNIT_RE = re.compile(f"[{WIDE_CHARS}]|[^{WIDE_CHARS}]+")


@dataclass(frozen=True, slots=True)
class TransformedPrompt:
    """A goal rewritten by one transform, ready to send.

    Attributes:
        turns: The user turns to send in order; single-turn transforms give exactly one.
        method: The transform's name.
        seed: The seed it was applied with.
        language: ``en`` or ``zh``, the language of the wrapper text.
        meta: What :meth:`Transform.recover` needs that is not the goal (a permutation, a template index, ...),
            plus descriptive fields. JSON-serialisable; treat it as read-only.
    """

    turns: tuple[str, ...]
    method: str
    seed: int
    language: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        # meta is a dict, so the generated hash would fail; equal prompts still hash equal without it.
        return hash((self.turns, self.method, self.seed, self.language))

    @property
    def text(self) -> str:
        """The last user turn (the whole prompt for a single-turn transform)."""
        return self.turns[-1]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record of this prompt; :meth:`from_dict` reads it back."""
        return {
            "turns": list(self.turns),
            "method": self.method,
            "seed": self.seed,
            "language": self.language,
            "meta": json.loads(json.dumps(dict(self.meta))),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TransformedPrompt:
        """Rebuild a prompt from :meth:`as_dict` output (e.g. a stored attack log), for auditing with ``recover``.

        Raises:
            ConfigError: If a field is missing or has the wrong type.
        """
        turns = raw.get("turns")
        if not isinstance(turns, list | tuple) or not turns or not all(isinstance(t, str) for t in turns):
            raise ConfigError("transformed prompt: 'turns' must be a non-empty list of strings")
        for key, kind in (("method", str), ("language", str), ("seed", int)):
            if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
                raise ConfigError(f"transformed prompt: '{key}' must be a {kind.__name__}, got {raw.get(key)!r}")
        meta = raw.get("meta", {})
        if not isinstance(meta, Mapping):
            raise ConfigError("transformed prompt: 'meta' must be an object")
        return cls(tuple(turns), raw["method"], raw["seed"], raw["language"], dict(meta))


@runtime_checkable
class Transform(Protocol):
    """A deterministic rewrite of a goal into a Strata-Sword-style attack prompt.

    Attributes:
        name: Kebab-case id, e.g. ``shuffle``.
        description: One sentence on what the transform does.
        level: The Strata-Sword level it reproduces (1 direct, 2 one transformation, 3 combined or multi-step).
        languages: Languages it supports, ``("en", "zh")`` or ``("zh",)``.
        multi_turn: Whether it yields several user turns.
        tags: Free-form family labels, e.g. ``("encoding", "code")``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    level: ClassVar[int]
    languages: ClassVar[tuple[str, ...]]
    multi_turn: ClassVar[bool]
    tags: ClassVar[tuple[str, ...]]

    def apply(self, goal: str, *, seed: int = 0, language: str | None = None) -> TransformedPrompt:
        """Rewrite ``goal``; the same goal, seed and language always give the same prompt."""
        ...

    def recover(self, prompt: TransformedPrompt) -> str:
        """Return the normalised goal that ``prompt`` was made from."""
        ...


def detect_language(text: str) -> str:
    """``zh`` if ``text`` contains a CJK ideograph, else ``en``."""
    return "zh" if _IDEOGRAPH_RE.search(text) else "en"


def has_ideograph(text: str) -> bool:
    """Whether ``text`` contains at least one CJK ideograph."""
    return _IDEOGRAPH_RE.search(text) is not None


def is_wide(unit: str) -> bool:
    """Whether ``unit`` is a single CJK (wide) character rather than a space-delimited run."""
    return len(unit) == 1 and _WIDE_RE.match(unit) is not None


def segment(text: str) -> list[str]:
    """Split text into units: single CJK characters, and runs of other non-space characters.

    ``segment(join_units(units)) == units`` for any units this function returns, which is what lets transforms
    that reorder or re-space units be undone exactly.
    """
    units: list[str] = []
    for chunk in text.split():
        units.extend(_UNIT_RE.findall(chunk))
    return units


def join_units(units: Sequence[str]) -> str:
    """Join units, with a space only between two non-CJK units (Chinese is written without spaces)."""
    out: list[str] = []
    for i, unit in enumerate(units):
        if i and not is_wide(unit) and not is_wide(units[i - 1]):
            out.append(" ")
        out.append(unit)
    return "".join(out)


def normalize_goal(goal: str) -> str:
    """The form of a goal that ``recover`` returns.

    Whitespace runs become one space, leading and trailing whitespace goes, and whitespace next to a CJK character
    is dropped. For an English goal this only collapses whitespace.
    """
    return join_units(segment(goal))


def split_template(template: str, payload_marker: str = "{payload}") -> tuple[str, str]:
    """Split a rendered template into the text before and after its single payload marker."""
    before, marker, after = template.partition(payload_marker)
    if not marker or payload_marker in after:
        raise ConfigError(f"template must contain {payload_marker} exactly once: {template[:60]!r}...")
    return before, after


def fill(template: str, fields: Mapping[str, str]) -> str:
    """Replace ``{name}`` placeholders other than ``{payload}`` with field values."""
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template


def strip_frame(text: str, before: str, after: str, method: str) -> str:
    """The payload between a known prefix and suffix.

    Raises:
        ConfigError: If the text does not have that frame (it was edited, or made with other meta).
    """
    if len(text) < len(before) + len(after) or not text.startswith(before) or not text.endswith(after):
        raise ConfigError(f"cannot recover the goal: the prompt does not match the {method} template it claims")
    return text[len(before) : len(text) - len(after)]


class BaseTransform:
    """Shared validation for the built-in transforms; subclasses implement ``_apply`` and ``_recover``."""

    name: ClassVar[str]
    description: ClassVar[str]
    level: ClassVar[int]
    languages: ClassVar[tuple[str, ...]] = LANGUAGES
    multi_turn: ClassVar[bool] = False
    tags: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<transform {self.name}>"

    def apply(self, goal: str, *, seed: int = 0, language: str | None = None) -> TransformedPrompt:
        """Rewrite ``goal`` into this transform's attack prompt.

        Args:
            goal: The request to wrap. Whitespace is normalised (see :func:`normalize_goal`).
            seed: Picks templates, orders and splits; the same goal, seed and language give the same prompt.
            language: ``en`` or ``zh`` for the wrapper text; ``None`` detects it from the goal (CJK -> ``zh``).

        Returns:
            The prompt, with what :meth:`recover` needs in ``meta``.

        Raises:
            ConfigError: If the goal is empty, the language is unknown or unsupported here, or a Chinese-only
                transform is given a goal without Chinese characters.
        """
        if not isinstance(goal, str) or not goal.strip():
            raise ConfigError(f"{self.name}: the goal must be a non-empty string")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"{self.name}: seed must be an integer, got {seed!r}")
        lang = detect_language(goal) if language is None else language
        if lang not in LANGUAGES:
            raise ConfigError(f"{self.name}: unknown language {lang!r}; use one of {list(LANGUAGES)} or None")
        if lang not in self.languages:
            raise ConfigError(
                f"{self.name} supports only {list(self.languages)}, not {lang!r}; "
                "pick another transform for this goal (see nacre.attack.transforms.transforms())"
            )
        if self.languages == ("zh",) and not has_ideograph(goal):
            raise ConfigError(
                f"{self.name} is Chinese-only and needs a goal written in Chinese; "
                f"got one without CJK characters: {goal[:40]!r}"
            )
        units = segment(goal)
        turns, meta = self._apply(units, random.Random(seed), lang)
        return TransformedPrompt(turns=tuple(turns), method=self.name, seed=seed, language=lang, meta=meta)

    def recover(self, prompt: TransformedPrompt) -> str:
        """Return the normalised goal (:func:`normalize_goal`) that ``prompt`` was made from.

        Raises:
            ConfigError: If the prompt was made by another transform or does not match this one's format.
        """
        if prompt.method != self.name:
            raise ConfigError(f"cannot recover with {self.name}: the prompt was made by {prompt.method!r}")
        if prompt.language not in self.languages:
            raise ConfigError(f"cannot recover with {self.name}: unsupported language {prompt.language!r}")
        if not prompt.turns:
            raise ConfigError(f"cannot recover with {self.name}: the prompt has no turns")
        try:
            return self._recover(prompt)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"cannot recover with {self.name}: malformed prompt or meta ({exc!r})") from None

    def _apply(self, units: list[str], rng: random.Random, language: str) -> tuple[list[str], dict[str, Any]]:
        raise NotImplementedError

    def _recover(self, prompt: TransformedPrompt) -> str:
        raise NotImplementedError


def pick_index(rng: random.Random, options: Sequence[object]) -> int:
    """A seeded index into ``options`` (which must be non-empty)."""
    return rng.randrange(len(options))


def permute(rng: random.Random, units: Sequence[str]) -> list[int]:
    """A seeded permutation of ``range(len(units))`` whose result differs from the input when it can.

    Redraws a few times so that a goal with at least two different units is always visibly scrambled.
    """
    order = list(range(len(units)))
    if len(set(units)) < 2:
        return order
    for _ in range(8):
        rng.shuffle(order)
        if [units[i] for i in order] != list(units):
            break
    return order


def unpermute(shuffled: Sequence[str], order: Sequence[int]) -> list[str]:
    """Invert :func:`permute`: ``shuffled[i]`` came from position ``order[i]``.

    Raises:
        ValueError: If ``order`` is not a permutation of the right length.
    """
    if sorted(order) != list(range(len(shuffled))):
        raise ValueError(f"permutation of length {len(order)} does not fit {len(shuffled)} units")
    units = [""] * len(shuffled)
    for i, j in enumerate(order):
        units[j] = shuffled[i]
    return units
