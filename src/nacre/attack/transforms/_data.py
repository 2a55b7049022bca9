"""The shipped wrapper templates and benign filler text (``nacre/data/attack/transform_templates.json``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

from nacre._jsonfile import read_json_file
from nacre.attack.transforms._base import fill, has_ideograph, split_template, strip_frame
from nacre.errors import ConfigError

SCHEMA = 1
RESOURCE = "attack/transform_templates.json"

_BOTH = ("en", "zh")
_ZH = ("zh",)
_STAGES = ("background", "concepts", "mechanics", "practice")

# Template key -> (languages it must cover, placeholders it may use besides {payload}, whether {payload} is needed).
# Keeping the contract here means a hand-edited data file fails at load time, not halfway through an attack run.
_SPEC: Mapping[str, tuple[tuple[str, ...], frozenset[str], bool]] = MappingProxyType(
    {
        "opposing": (_BOTH, frozenset(), True),
        "contradictory": (_BOTH, frozenset(), True),
        "template": (_BOTH, frozenset(), True),
        "shuffle-template": (_BOTH, frozenset({"emoji"}), True),
        "script-template": (_BOTH, frozenset({"token"}), True),
        "ascii-drawing": (_BOTH, frozenset(), True),
        "long-text": (_BOTH, frozenset({"mark"}), True),
        "code-attack": (_BOTH, frozenset({"var"}), True),
        "dr-attack": (_BOTH, frozenset({"order"}), True),
        "acrostic": (_BOTH, frozenset({"count"}), True),
        "character-split": (_ZH, frozenset(), True),
        "lantern-riddle": (_ZH, frozenset(), True),
        "multi-turn-escalation/final": (_BOTH, frozenset(), True),
        **{f"multi-turn-escalation/{s}": (_BOTH, frozenset({"topic"}), False) for s in _STAGES},
    }
)
STAGES: tuple[str, ...] = _STAGES
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_MIN_FILLER = 20


@dataclass(frozen=True, slots=True)
class TemplateData:
    """The parsed data file.

    Attributes:
        templates: Template key -> language -> variants (each the full text with placeholders).
        questions: Language -> benign filler questions for ``long-text``.
        lines: Language -> benign poem lines for ``acrostic``.
    """

    templates: Mapping[str, Mapping[str, tuple[str, ...]]]
    questions: Mapping[str, tuple[str, ...]]
    lines: Mapping[str, tuple[str, ...]]

    def variants(self, key: str, language: str) -> tuple[str, ...]:
        """The template variants for ``key`` in ``language``.

        Raises:
            ConfigError: If the data has none.
        """
        found = self.templates.get(key, {}).get(language)
        if not found:
            raise ConfigError(f"no {language!r} templates for {key!r} in {RESOURCE}")
        return found


def _text(raw: Any, where: str) -> str:
    # A variant may be a list of lines so that the JSON stays readable; it is joined with newlines.
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return "\n".join(raw)
    if isinstance(raw, str) and raw.strip():
        return raw
    raise ConfigError(f"{RESOURCE}: {where} must be a non-empty string or list of strings")


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) < _MIN_FILLER:
        raise ConfigError(f"{RESOURCE}: {where} must be a list of at least {_MIN_FILLER} strings")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, str) or not item.strip() or "\n" in item:
            raise ConfigError(f"{RESOURCE}: {where}[{i}] must be a non-empty single-line string")
        out.append(item)
    return tuple(out)


def parse(raw: Any) -> TemplateData:
    """Validate the data file's JSON.

    Raises:
        ConfigError: Naming the first offending field.
    """
    if not isinstance(raw, Mapping) or raw.get("schema") != SCHEMA:
        raise ConfigError(f'{RESOURCE}: expected an object with "schema": {SCHEMA}')
    for key in ("templates", "filler_questions", "acrostic_lines"):
        if not isinstance(raw.get(key), Mapping):
            raise ConfigError(f"{RESOURCE}: {key!r} must be an object")
    unknown = set(raw["templates"]) - set(_SPEC)
    if unknown:
        raise ConfigError(f"{RESOURCE}: unknown template keys {sorted(unknown)}; expected {sorted(_SPEC)}")
    templates: dict[str, Mapping[str, tuple[str, ...]]] = {}
    for key, (langs, allowed, needs_payload) in _SPEC.items():
        per_lang = raw["templates"].get(key)
        if not isinstance(per_lang, Mapping):
            raise ConfigError(f"{RESOURCE}: templates.{key} is missing")
        parsed: dict[str, tuple[str, ...]] = {}
        for lang in langs:
            variants = per_lang.get(lang)
            if not isinstance(variants, list) or not variants:
                raise ConfigError(f"{RESOURCE}: templates.{key}.{lang} must be a non-empty list of variants")
            texts = []
            for i, variant in enumerate(variants):
                where = f"templates.{key}.{lang}[{i}]"
                text = _text(variant, where)
                used = _PLACEHOLDER.findall(text)
                stray = set(used) - allowed - {"payload"}
                if stray:
                    raise ConfigError(f"{RESOURCE}: {where} uses unknown placeholders {sorted(stray)}")
                if needs_payload and used.count("payload") != 1:
                    raise ConfigError(f"{RESOURCE}: {where} must contain {{payload}} exactly once")
                if not needs_payload and ("payload" in used or "topic" not in used):
                    raise ConfigError(f"{RESOURCE}: {where} must contain {{topic}} and no {{payload}}")
                texts.append(text)
            parsed[lang] = tuple(texts)
        templates[key] = MappingProxyType(parsed)
    questions = {lang: _strings(raw["filler_questions"].get(lang), f"filler_questions.{lang}") for lang in _BOTH}
    lines = {lang: _strings(raw["acrostic_lines"].get(lang), f"acrostic_lines.{lang}") for lang in _BOTH}
    for i, line in enumerate(lines["zh"]):
        # acrostic recovery reads the first unit of a zh line; a filler starting with a Latin letter would merge
        # with a Latin unit of the goal in front of it.
        if not has_ideograph(line[0]) or any(ch.isspace() for ch in line):
            raise ConfigError(f"{RESOURCE}: acrostic_lines.zh[{i}] must start with a Chinese character, no spaces")
    return TemplateData(MappingProxyType(templates), MappingProxyType(questions), MappingProxyType(lines))


@functools.cache
def load() -> TemplateData:
    """The shipped templates, parsed once per process (the result is immutable)."""
    return parse(read_json_file(resources.files("nacre.data").joinpath(RESOURCE), "transform templates"))


def render(key: str, language: str, variant: int, fields: Mapping[str, str], payload: str) -> str:
    """Fill template ``variant`` of ``key`` with ``fields`` and insert ``payload`` (verbatim, never re-scanned)."""
    before, after = split_template(fill(load().variants(key, language)[variant], fields))
    return before + payload + after


def unrender(key: str, language: str, variant: int, fields: Mapping[str, str], text: str, method: str) -> str:
    """The payload that :func:`render` put into ``text``.

    Raises:
        ConfigError: If ``text`` is not that template filled with those fields.
    """
    variants = load().variants(key, language)
    if not isinstance(variant, int) or not 0 <= variant < len(variants):
        raise ConfigError(f"cannot recover the goal: {method} has no template variant {variant!r}")
    before, after = split_template(fill(variants[variant], fields))
    return strip_frame(text, before, after, method)
