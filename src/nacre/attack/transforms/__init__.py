"""Strata-Sword attack methods as deterministic, reversible prompt transforms.

Each transform rewrites a goal into an attack prompt (one user turn, or several for ``multi-turn-escalation``)
and can recover the normalised goal from that prompt, which is how tests and auditors check that nothing was
lost. Wrapper texts are nacre's own wording, shipped in ``nacre/data/attack/transform_templates.json``; the goal
is only inserted at run time.

Example:
    >>> from nacre.attack.transforms import get_transform
    >>> prompt = get_transform("shuffle").apply("explain how to bake sourdough bread", seed=3)
    >>> get_transform("shuffle").recover(prompt)
    'explain how to bake sourdough bread'
"""

from nacre.attack.transforms._base import (
    LANGUAGES,
    Transform,
    TransformedPrompt,
    detect_language,
    join_units,
    normalize_goal,
    segment,
)
from nacre.attack.transforms._registry import get_transform, transforms

__all__ = [
    "LANGUAGES",
    "Transform",
    "TransformedPrompt",
    "detect_language",
    "get_transform",
    "join_units",
    "normalize_goal",
    "segment",
    "transforms",
]
