"""The attack registry: built-in attacks plus plugins from the ``nacre`` entry-point group (``attack.<name>``).

Built as a fresh mapping on each call, never a mutable global: plugins are discovered, not registered by import
side effects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol

from nacre.attack._context import AttackContext, AttackOptions
from nacre.attack._multiround import CrescendoAttack, MRJAttack
from nacre.attack._single import TransformAttack
from nacre.attack._types import AttemptResult
from nacre.attack.transforms import Transform, transforms
from nacre.datasets import Goal
from nacre.errors import ConfigError

logger = logging.getLogger(__name__)

_PREFIX = "attack."


class Attack(Protocol):
    """An attack: runs against one goal and returns an attempt result.

    Plugin classes declare ``name``, ``description``, ``multi_turn``, ``needs_attacker`` and ``tags`` as class
    attributes and take :class:`AttackOptions` as their only constructor argument.
    """

    @property
    def name(self) -> str:
        """Registry name."""
        ...

    @property
    def description(self) -> str:
        """One or two sentences for listings."""
        ...

    @property
    def multi_turn(self) -> bool:
        """Whether it holds a multi-turn conversation with the target."""
        ...

    @property
    def needs_attacker(self) -> bool:
        """Whether it needs an attacker model."""
        ...

    @property
    def tags(self) -> tuple[str, ...]:
        """Free-form tags."""
        ...

    async def run(self, goal: Goal, ctx: AttackContext, *, attempt: int = 0) -> AttemptResult:
        """Attack ``goal`` once."""
        ...


AttackFactory = Callable[[AttackOptions], Attack]


@dataclass(frozen=True, slots=True)
class AttackInfo:
    """What ``nacre attack list`` shows about an attack.

    Attributes:
        name: Registry name.
        description: One or two sentences.
        multi_turn: Whether it holds a multi-turn conversation with the target.
        needs_attacker: Whether it needs an attacker model.
        tags: Free-form tags (``strata-sword-l2``, ``persuasion``, ...).
        origin: ``built-in`` or the plugin's entry point.
    """

    name: str
    description: str
    multi_turn: bool
    needs_attacker: bool
    tags: tuple[str, ...]
    origin: str = "built-in"


def _transform_factory(transform: Transform) -> AttackFactory:
    return lambda options: TransformAttack(transform, options)


def attack_registry() -> dict[str, tuple[AttackInfo, AttackFactory]]:
    """Every available attack by name: the built-ins, then plugins (which may not shadow a built-in)."""
    registry: dict[str, tuple[AttackInfo, AttackFactory]] = {}
    for cls in (MRJAttack, CrescendoAttack):
        registry[cls.name] = (
            AttackInfo(cls.name, cls.description, cls.multi_turn, cls.needs_attacker, cls.tags),
            cls,
        )
    for name, transform in transforms().items():
        probe = TransformAttack(transform)
        registry[name] = (
            AttackInfo(name, transform.description, transform.multi_turn, False, probe.tags),
            _transform_factory(transform),
        )
    for ep in entry_points(group="nacre"):
        if not ep.name.startswith(_PREFIX):
            continue
        name = ep.name.removeprefix(_PREFIX)
        if name in registry:
            logger.warning("attack plugin %s ignored: the name %r is built in", ep.value, name)
            continue
        try:
            cls = ep.load()
            info = AttackInfo(
                name,
                str(cls.description),
                bool(cls.multi_turn),
                bool(getattr(cls, "needs_attacker", True)),
                tuple(getattr(cls, "tags", ())),
                f"plugin {ep.value}",
            )
        except Exception as exc:  # a broken plugin must not break the built-ins
            logger.warning("attack plugin %s could not be loaded: %s", ep.value, exc)
            continue
        registry[name] = (info, cls)
    return registry


def create_attack(name: str, options: AttackOptions | None = None) -> Attack:
    """Instantiate an attack by registry name.

    Raises:
        ConfigError: If no attack has that name.
    """
    registry = attack_registry()
    if name not in registry:
        raise ConfigError(f"unknown attack {name!r}; see `nacre attack list` ({', '.join(sorted(registry))})")
    return registry[name][1](options or AttackOptions())
