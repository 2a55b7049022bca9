"""Persuasion techniques for the attacker: the library, its loader, and the per-campaign technique selector.

The shipped library (``nacre/data/attack/persuasion.json``) holds the 40 techniques of the PAP persuasion taxonomy,
grouped into 13 families, plus GOAT's 7 conversational techniques in the family ``goat``. Each technique carries a
one- or two-sentence ``instruction`` that tells the attacker model how to phrase its next question. The selector
picks one technique per turn by Thompson sampling on each technique's non-refusal rate, and after a refusal the
caller passes the refused technique's family as ``avoid_family`` so that the next pick switches family.

The module also loads ``similarity_calibration.json``: benign paraphrase pairs and unrelated pairs, used to place
the embedding-similarity band of the information-based control for a given embedder.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from nacre._jsonfile import Readable, read_json_file
from nacre.errors import ConfigError

Source = Literal["pap", "goat"]
SOURCES: Final[tuple[Source, ...]] = ("pap", "goat")
SCHEMA_VERSION: Final = 1
SNAPSHOT_VERSION: Final = 1

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TECHNIQUE_FIELDS: Final = ("id", "name", "family", "source", "ethical", "description", "instruction", "example")
_FAMILY_FIELDS: Final = ("id", "name", "description")


class _Bad(Exception):
    """A field is invalid; carries the dotted path and the problem until the source name is known."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class Technique:
    """One persuasion or conversational technique the attacker can apply to its next question.

    Attributes:
        id: Kebab-case identifier, unique within a library (e.g. ``"foot-in-the-door"``).
        name: Human-readable name.
        family: Id of the technique's family; after a refusal the next pick comes from another family.
        source: ``"pap"`` (persuasion taxonomy) or ``"goat"`` (GOAT's conversational techniques).
        ethical: False for the nine techniques PAP calls unethical (threats, deception, social sabotage), so that
            reports can keep them apart.
        description: One sentence on what the technique does.
        instruction: How the attacker model should phrase its next question with this technique.
        example: A benign illustration of the technique.
    """

    id: str
    name: str
    family: str
    source: Source
    ethical: bool
    description: str
    instruction: str
    example: str


@dataclass(frozen=True, slots=True)
class TechniqueLibrary:
    """An ordered, validated set of techniques and the families they belong to.

    Attributes:
        techniques: The techniques, in file order (which is also the selector's tie-break order).
        families: Family id -> family name, for every family a technique uses.
        family_descriptions: Family id -> one-sentence description (may be empty for hand-built libraries).

    Raises:
        ConfigError: If technique ids repeat or a technique names a family that is not listed.
    """

    techniques: tuple[Technique, ...]
    families: Mapping[str, str]
    family_descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for technique in self.techniques:
            if technique.id in seen:
                raise ConfigError(f"persuasion library: technique id {technique.id!r} appears twice")
            seen.add(technique.id)
            if technique.family not in self.families:
                raise ConfigError(
                    f"persuasion library: technique {technique.id!r} names unknown family {technique.family!r} "
                    f"(known: {', '.join(self.families)})"
                )
        # Read-only views, so that a library shared between goals cannot be changed through one of them.
        object.__setattr__(self, "families", MappingProxyType(dict(self.families)))
        object.__setattr__(self, "family_descriptions", MappingProxyType(dict(self.family_descriptions)))

    def __len__(self) -> int:
        return len(self.techniques)

    def __iter__(self) -> Iterator[Technique]:
        return iter(self.techniques)

    def get(self, technique_id: str) -> Technique:
        """Return the technique with this id.

        Args:
            technique_id: A technique id, e.g. ``"logical-appeal"``.

        Raises:
            ConfigError: If no technique has this id; the message suggests close ids.
        """
        for technique in self.techniques:
            if technique.id == technique_id:
                return technique
        ids = [t.id for t in self.techniques]
        close = difflib.get_close_matches(technique_id, ids, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else f"known ids include {ids[:5]}"
        raise ConfigError(f"unknown persuasion technique {technique_id!r}: {hint} ({len(ids)} techniques in all)")

    def filter(self, *, ethical_only: bool = False, sources: Collection[str] | None = None) -> TechniqueLibrary:
        """Return the sub-library of techniques that pass the filters, keeping their order.

        Args:
            ethical_only: Drop the techniques PAP calls unethical.
            sources: Keep only techniques from these sources (``"pap"``, ``"goat"``); None keeps all.

        Raises:
            ConfigError: If a source is unknown or no technique is left.
        """
        if sources is not None:
            unknown = sorted(set(sources) - set(SOURCES))
            if unknown:
                raise ConfigError(f"unknown technique source(s) {unknown}: choose from {list(SOURCES)}")
        kept = tuple(
            t for t in self.techniques if (t.ethical or not ethical_only) and (sources is None or t.source in sources)
        )
        if not kept:
            raise ConfigError(
                f"no persuasion technique is left after filtering (ethical_only={ethical_only}, "
                f"sources={sorted(sources) if sources is not None else None}); widen the filter"
            )
        used = {t.family for t in kept}
        return TechniqueLibrary(
            techniques=kept,
            families={k: v for k, v in self.families.items() if k in used},
            family_descriptions={k: v for k, v in self.family_descriptions.items() if k in used},
        )


@dataclass(frozen=True, slots=True)
class TextPair:
    """Two texts whose embedding similarity is measured.

    Attributes:
        text: A benign request or question.
        other: Its paraphrase (in :attr:`CalibrationSet.pairs`) or an unrelated benign question (in
            :attr:`CalibrationSet.unrelated`).
    """

    text: str
    other: str


@dataclass(frozen=True, slots=True)
class CalibrationSet:
    """Benign text pairs that place the similarity band of an embedder.

    The similarity of ``pairs`` (same information need, different words) gives the high end and that of
    ``unrelated`` the low end; the band's ends are set at percentiles between them.

    Attributes:
        pairs: Requests and their paraphrases.
        unrelated: Requests and unrelated questions.
    """

    pairs: tuple[TextPair, ...]
    unrelated: tuple[TextPair, ...]


def _obj(raw: Any, where: str, fields: Sequence[str]) -> Mapping[str, Any]:
    """An object with exactly ``fields``."""
    if not isinstance(raw, Mapping):
        raise _Bad(where, f"must be an object, got {type(raw).__name__}")
    for key in fields:
        if key not in raw:
            raise _Bad(f"{where}.{key}", "is missing")
    for key in raw:
        if key not in fields:
            raise _Bad(f"{where}.{key}", f"unknown field (expected one of {list(fields)})")
    return raw


def _str(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Bad(where, f"must be a non-empty string, got {raw!r}")
    return raw


def _kebab(raw: Any, where: str) -> str:
    value = _str(raw, where)
    if not _KEBAB.fullmatch(value):
        raise _Bad(where, f"must be kebab-case (lowercase letters, digits and single hyphens), got {value!r}")
    return value


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise _Bad(where, f"must be a non-empty list, got {raw!r}" if not isinstance(raw, list) else "is empty")
    return raw


def _schema(doc: Mapping[str, Any]) -> None:
    version = doc["schema_version"]
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise _Bad("schema_version", f"is {version!r}; this nacre reads version {SCHEMA_VERSION}")


def _technique(raw: Any, where: str, families: Mapping[str, str]) -> Technique:
    obj = _obj(raw, where, _TECHNIQUE_FIELDS)
    family = _kebab(obj["family"], f"{where}.family")
    if family not in families:
        raise _Bad(f"{where}.family", f"unknown family {family!r} (known: {', '.join(families)})")
    source = obj["source"]
    if source not in SOURCES:
        raise _Bad(f"{where}.source", f"must be one of {list(SOURCES)}, got {source!r}")
    ethical = obj["ethical"]
    if not isinstance(ethical, bool):
        raise _Bad(f"{where}.ethical", f"must be true or false, got {ethical!r}")
    return Technique(
        id=_kebab(obj["id"], f"{where}.id"),
        name=_str(obj["name"], f"{where}.name"),
        family=family,
        source="pap" if source == "pap" else "goat",
        ethical=ethical,
        description=_str(obj["description"], f"{where}.description"),
        instruction=_str(obj["instruction"], f"{where}.instruction"),
        example=_str(obj["example"], f"{where}.example"),
    )


def build_techniques(raw: Any, *, source: str = "persuasion library") -> TechniqueLibrary:
    """Validate a parsed ``persuasion.json`` document and build the library.

    Args:
        raw: The parsed JSON.
        source: Where it came from, for error messages.

    Raises:
        ConfigError: Naming the offending field, e.g. ``techniques[3].family: unknown family 'x'``.
    """
    try:
        doc = _obj(raw, "persuasion library", ("schema_version", "families", "techniques"))
        _schema(doc)
        names: dict[str, str] = {}
        descriptions: dict[str, str] = {}
        for i, fam_raw in enumerate(_list(doc["families"], "families")):
            where = f"families[{i}]"
            fam = _obj(fam_raw, where, _FAMILY_FIELDS)
            fid = _kebab(fam["id"], f"{where}.id")
            if fid in names:
                raise _Bad(f"{where}.id", f"family id {fid!r} appears twice")
            names[fid] = _str(fam["name"], f"{where}.name")
            descriptions[fid] = _str(fam["description"], f"{where}.description")
        techniques: list[Technique] = []
        seen: set[str] = set()
        for i, tech_raw in enumerate(_list(doc["techniques"], "techniques")):
            technique = _technique(tech_raw, f"techniques[{i}]", names)
            if technique.id in seen:
                raise _Bad(f"techniques[{i}].id", f"technique id {technique.id!r} appears twice")
            seen.add(technique.id)
            techniques.append(technique)
    except _Bad as exc:
        raise ConfigError(f"invalid persuasion library {source}: {exc}") from None
    return TechniqueLibrary(techniques=tuple(techniques), families=names, family_descriptions=descriptions)


def _resource(path: Path | str | None, name: str) -> tuple[Path | Readable, str]:
    if path is None:
        return resources.files("nacre.data").joinpath(f"attack/{name}"), name
    return Path(path), str(path)


def load_techniques(path: Path | str | None = None) -> TechniqueLibrary:
    """Load a technique library, by default the shipped ``nacre/data/attack/persuasion.json``.

    Args:
        path: Your own library file (same schema), or None for the shipped one.

    Raises:
        ConfigError: If the file cannot be read, is not JSON, or fails validation (unique kebab-case ids, known
            families and sources, non-empty texts, ``schema_version`` 1). The message names the file and field.
    """
    resource, label = _resource(path, "persuasion.json")
    return build_techniques(read_json_file(resource, "persuasion library"), source=label)


def _pairs(raw: Any, key: str, second: str) -> tuple[TextPair, ...]:
    out: list[TextPair] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(_list(raw, key)):
        where = f"{key}[{i}]"
        obj = _obj(item, where, ("text", second))
        text, other = _str(obj["text"], f"{where}.text"), _str(obj[second], f"{where}.{second}")
        if text.strip() == other.strip():
            raise _Bad(where, f"text and {second} are the same")
        if (text, other) in seen:
            raise _Bad(where, "duplicates an earlier entry")
        seen.add((text, other))
        out.append(TextPair(text=text, other=other))
    return tuple(out)


def build_calibration(raw: Any, *, source: str = "calibration set") -> CalibrationSet:
    """Validate a parsed ``similarity_calibration.json`` document.

    Args:
        raw: The parsed JSON.
        source: Where it came from, for error messages.

    Raises:
        ConfigError: Naming the offending field.
    """
    try:
        doc = _obj(raw, "calibration set", ("schema_version", "pairs", "unrelated"))
        _schema(doc)
        pairs = _pairs(doc["pairs"], "pairs", "paraphrase")
        unrelated = _pairs(doc["unrelated"], "unrelated", "other")
    except _Bad as exc:
        raise ConfigError(f"invalid similarity calibration set {source}: {exc}") from None
    return CalibrationSet(pairs=pairs, unrelated=unrelated)


def load_calibration(path: Path | str | None = None) -> CalibrationSet:
    """Load the similarity calibration set, by default the shipped ``similarity_calibration.json``.

    Args:
        path: Your own file (same schema), or None for the shipped one.

    Raises:
        ConfigError: If the file cannot be read or fails validation (non-empty lists of objects with non-empty,
            distinct texts, ``schema_version`` 1).
    """
    resource, label = _resource(path, "similarity_calibration.json")
    return build_calibration(read_json_file(resource, "similarity calibration set"), source=label)


def _prior(raw: Any, where: str) -> tuple[float, float]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or len(raw) != 2:
        raise ConfigError(f"{where}: must be a pair (alpha, beta), got {raw!r}")
    out: list[float] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{where}: alpha and beta must be finite numbers > 0, got {raw!r}")
        out.append(float(value))
    return out[0], out[1]


class TechniqueSelector:
    """Thompson sampling on per-technique non-refusal rate, switching family after a refusal.

    After a refusal, the next pick must come from a different family than the refused one. Each technique has a
    Beta(alpha + non-refusals, beta + refusals) posterior over the chance that the target does not refuse a question
    phrased with it. :meth:`pick` draws once from every eligible posterior and returns the technique with the highest
    draw, so techniques that keep working are picked more often while little-tried ones still get explored. The
    counts are shared by everything that uses one selector. nacre's attacks keep one per attempt, seeded from the
    attempt: counts shared across concurrent goals would make results depend on scheduling, and a resumed campaign
    could not reproduce an uninterrupted one. The conversation state (which family was just refused, which
    techniques were already used) belongs to the caller, who passes it to :meth:`pick` as ``avoid_family`` and
    ``exclude``.

    Randomness comes only from the ``rng`` given to :meth:`pick`. Each goal draws from its own generator (see
    :meth:`rng_for`), so its picks do not depend on how many draws other goals made; with the same counts and the
    same generator state a pick is always the same.

    Not thread-safe: :meth:`pick` and :meth:`update` mutate and read plain dicts without locks. That is safe for
    any number of tasks within one asyncio event loop, because neither method awaits.
    """

    def __init__(self, library: TechniqueLibrary, *, seed: int = 0, prior: tuple[float, float] = (1.0, 1.0)) -> None:
        """Start a selector with no observations.

        Args:
            library: The techniques to choose from (filter it first to drop unethical or GOAT techniques).
            seed: Campaign seed, used by :meth:`rng_for` to derive per-goal generators.
            prior: Beta prior (alpha, beta) on each technique's non-refusal rate; (1, 1) is uniform.

        Raises:
            ConfigError: If the library is empty or the prior is not two positive numbers.
        """
        if not library.techniques:
            raise ConfigError("the technique selector needs at least one technique; the library is empty")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"technique selector seed must be an integer, got {seed!r}")
        self._library = library
        self._seed = seed
        self._prior = _prior(prior, "technique selector prior")
        # id -> [non_refusals, refusals]; lists so that update() changes a count in place.
        self._counts: dict[str, list[int]] = {t.id: [0, 0] for t in library.techniques}

    @property
    def library(self) -> TechniqueLibrary:
        """The techniques this selector chooses from."""
        return self._library

    @property
    def seed(self) -> int:
        """The campaign seed."""
        return self._seed

    @property
    def prior(self) -> tuple[float, float]:
        """The Beta prior (alpha, beta)."""
        return self._prior

    def rng_for(self, key: str) -> random.Random:
        """Return a generator derived from the campaign seed and ``key`` (e.g. a goal id).

        String seeds are hashed with SHA-512 by :class:`random.Random`, so the stream is the same in every process
        (unlike ``hash()``, which is salted per process).

        Args:
            key: What the generator is for; distinct keys give independent streams.
        """
        return random.Random(f"nacre.persuasion:{self._seed}:{key}")

    def pick(self, *, rng: random.Random, avoid_family: str | None = None, exclude: Collection[str] = ()) -> Technique:
        """Choose the technique for the next question.

        Eligible techniques are those outside ``avoid_family`` and not in ``exclude``. If ``exclude`` leaves
        nothing outside ``avoid_family``, excluded techniques become eligible again (repeating a technique is
        better than staying in the refused family); only when the library has no other family at all is
        ``avoid_family`` ignored.

        Args:
            rng: The generator to draw from; the draws are in library order, so the same generator state and
                counts give the same pick.
            avoid_family: The family of the technique the target just refused, if any.
            exclude: Technique ids not to use now (e.g. those this goal already tried); unknown ids are ignored.

        Raises:
            ConfigError: If ``avoid_family`` is not a family of this library.
        """
        if avoid_family is not None and avoid_family not in self._library.families:
            raise ConfigError(f"unknown technique family {avoid_family!r} (known: {', '.join(self._library.families)})")
        excluded = set(exclude)
        other_family = [t for t in self._library.techniques if t.family != avoid_family]
        pool = [t for t in other_family if t.id not in excluded] or other_family or list(self._library.techniques)
        alpha, beta = self._prior
        best = pool[0]
        best_draw = -1.0
        for technique in pool:
            non_refusals, refusals = self._counts[technique.id]
            draw = rng.betavariate(alpha + non_refusals, beta + refusals)
            if draw > best_draw:
                best, best_draw = technique, draw
        return best

    def update(self, technique_id: str, *, refused: bool) -> None:
        """Record whether the target refused a question phrased with a technique.

        Args:
            technique_id: The technique that was used.
            refused: True if the target refused.

        Raises:
            ConfigError: If the technique is not in this selector's library.
        """
        if technique_id not in self._counts:
            self._library.get(technique_id)  # raises, suggesting close ids
        self._counts[technique_id][1 if refused else 0] += 1

    def stats(self) -> dict[str, tuple[int, int]]:
        """Return ``technique id -> (non_refusals, refusals)`` for every technique, in library order."""
        return {tid: (c[0], c[1]) for tid, c in self._counts.items()}

    def snapshot(self) -> dict[str, Any]:
        """Return the selector's state as a JSON-serialisable dict, for resuming a campaign with :meth:`restore`."""
        return {
            "snapshot_version": SNAPSHOT_VERSION,
            "seed": self._seed,
            "prior": [self._prior[0], self._prior[1]],
            "counts": {tid: [c[0], c[1]] for tid, c in self._counts.items()},
        }

    @classmethod
    def restore(cls, library: TechniqueLibrary, snapshot: Mapping[str, Any]) -> TechniqueSelector:
        """Rebuild a selector from :meth:`snapshot` output.

        Techniques added to the library since the snapshot start with no observations.

        Args:
            library: The library the campaign uses.
            snapshot: A dict produced by :meth:`snapshot` (possibly after a JSON round trip).

        Raises:
            ConfigError: If the snapshot is malformed or counts a technique the library does not have.
        """
        where = "technique selector snapshot"
        if not isinstance(snapshot, Mapping):
            raise ConfigError(f"{where}: must be an object, got {type(snapshot).__name__}")
        missing = [k for k in ("snapshot_version", "seed", "prior", "counts") if k not in snapshot]
        if missing:
            raise ConfigError(f"{where}: missing field(s) {missing}")
        if snapshot["snapshot_version"] != SNAPSHOT_VERSION:
            raise ConfigError(
                f"{where}: snapshot_version is {snapshot['snapshot_version']!r}; this nacre reads {SNAPSHOT_VERSION}"
            )
        selector = cls(library, seed=snapshot["seed"], prior=_prior(snapshot["prior"], f"{where}.prior"))
        counts = snapshot["counts"]
        if not isinstance(counts, Mapping):
            raise ConfigError(f"{where}.counts: must be an object, got {type(counts).__name__}")
        unknown = sorted(str(k) for k in counts if k not in selector._counts)
        if unknown:
            raise ConfigError(
                f"{where}.counts: technique(s) {unknown} are not in the library; restore with the library the "
                "campaign was started with"
            )
        for tid, pair in counts.items():
            ok = (
                isinstance(pair, Sequence)
                and not isinstance(pair, str)
                and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in pair)
            )
            if not ok:
                raise ConfigError(f"{where}.counts.{tid}: must be [non_refusals, refusals] (integers >= 0)")
            selector._counts[tid] = [pair[0], pair[1]]
        return selector
