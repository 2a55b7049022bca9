"""The labelled corpus the assessor's heads are trained on (shipped in ``nacre/data/assess_corpus``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from nacre.assess._types import INTERACTIONS
from nacre.errors import ConfigError
from nacre.taxonomy import USER_TYPES

HELDOUT_PERCENT = 15
Split = Literal["train", "heldout"]


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message.

    Attributes:
        id: Unique id.
        lang: ``en`` or ``zh``.
        text: The message.
        category: Taxonomy classifier label (or ``none``).
        severity: 0-3.
        user_type: ``benign``, ``vulnerable`` or ``malicious``.
        interaction: ``declarative``, ``inquiry`` or ``directive``.
        harmful: Whether the message seeks or would enable harm.
        wrapper: Jailbreak packaging used (``none`` if plain).
        source: The corpus file it came from.
    """

    id: str
    lang: str
    text: str
    category: str
    severity: int
    user_type: str
    interaction: str
    harmful: bool
    wrapper: str
    source: str

    @property
    def split(self) -> Split:
        """``heldout`` for a fixed 15 % of ids (by hash), else ``train``: stable however the corpus grows."""
        bucket = int(hashlib.sha256(self.id.encode("utf-8")).hexdigest()[:8], 16) % 100
        return "heldout" if bucket < HELDOUT_PERCENT else "train"


def _example(raw: dict[str, Any], source: str, line: int, labels: Sequence[str]) -> Example:
    where = f"{source}:{line}"
    try:
        ex = Example(
            id=str(raw["id"]),
            lang=str(raw["lang"]),
            text=str(raw["text"]),
            category=str(raw["category"]),
            severity=int(raw["severity"]),
            user_type=str(raw["user_type"]),
            interaction=str(raw["interaction"]),
            harmful=bool(raw["harmful"]),
            wrapper=str(raw.get("wrapper", "none")),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad corpus record ({exc})") from None
    problems = [
        (ex.lang in ("en", "zh"), "lang"),
        (ex.category in labels, "category"),
        (0 <= ex.severity <= 3, "severity"),
        (ex.user_type in USER_TYPES, "user_type"),
        (ex.interaction in INTERACTIONS, "interaction"),
        (bool(ex.text.strip()), "text"),
    ]
    bad = [name for ok, name in problems if not ok]
    if bad:
        raise ConfigError(f"{where}: invalid {', '.join(bad)} in corpus record {ex.id!r}")
    return ex


def corpus_files(directory: Path | None = None) -> list[Any]:
    """The corpus JSONL files, sorted by name (the shipped ones by default)."""
    base: Any = directory if directory is not None else resources.files("nacre.data").joinpath("assess_corpus")
    return sorted((f for f in base.iterdir() if f.name.endswith(".jsonl")), key=lambda f: f.name)


def load_corpus(labels: Sequence[str], directory: Path | None = None) -> list[Example]:
    """Load and validate every corpus file.

    Args:
        labels: Valid category labels (from the taxonomy).
        directory: Where the JSONL files are; the shipped corpus by default.

    Raises:
        ConfigError: If a record is malformed or ids repeat.
    """
    out: list[Example] = []
    seen: set[str] = set()
    for f in corpus_files(directory):
        for line_no, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{f.name}:{line_no}: not JSON ({exc})") from None
            ex = _example(raw, f.name, line_no, labels)
            if ex.id in seen:
                raise ConfigError(f"{f.name}:{line_no}: duplicate id {ex.id!r}")
            seen.add(ex.id)
            out.append(ex)
    if not out:
        raise ConfigError("the assessor corpus is empty")
    return out


def corpus_sha256(examples: Iterable[Example]) -> str:
    """A hash of the corpus content, stored with trained weights."""
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        h.update(
            json.dumps([ex.id, ex.text, ex.category, ex.severity, ex.user_type, ex.interaction, ex.harmful]).encode()
        )
    return h.hexdigest()
