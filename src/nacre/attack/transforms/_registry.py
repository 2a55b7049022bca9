"""The built-in transforms by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nacre.attack.transforms._base import BaseTransform, Transform
from nacre.attack.transforms._chinese import CharacterSplit, LanternRiddle
from nacre.attack.transforms._encoding import AsciiDrawing, CodeAttack, DrAttack
from nacre.attack.transforms._filler import Acrostic, LongText
from nacre.attack.transforms._framing import Contradictory, Direct, Opposing, ScriptTemplate, Template
from nacre.attack.transforms._multiturn import MultiTurnEscalation
from nacre.attack.transforms._reorder import Shuffle, ShuffleTemplate
from nacre.errors import ConfigError

_BUILT_IN: tuple[type[BaseTransform], ...] = (
    Direct,
    Shuffle,
    AsciiDrawing,
    LongText,
    Opposing,
    Contradictory,
    Template,
    ShuffleTemplate,
    ScriptTemplate,
    CodeAttack,
    DrAttack,
    CharacterSplit,
    Acrostic,
    LanternRiddle,
    MultiTurnEscalation,
)


def transforms() -> Mapping[str, Transform]:
    """All built-in transforms, name -> instance, ordered by Strata-Sword level and then name.

    Transforms are stateless, so a fresh read-only mapping is built on each call.
    """
    ordered = sorted(_BUILT_IN, key=lambda cls: (cls.level, cls.name))
    return MappingProxyType({cls.name: cls() for cls in ordered})


def get_transform(name: str) -> Transform:
    """The built-in transform called ``name``.

    Raises:
        ConfigError: If there is none; the message lists the valid names.
    """
    found = transforms().get(name)
    if found is None:
        raise ConfigError(f"unknown transform {name!r}; choose one of: {', '.join(transforms())}")
    return found
