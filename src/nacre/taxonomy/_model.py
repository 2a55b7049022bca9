"""The risk taxonomy: typed, immutable, loaded from versioned JSON with optional locale overlays."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from nacre._jsonfile import Readable, read_json_file
from nacre.errors import ConfigError

UserType = Literal["benign", "vulnerable", "malicious"]
USER_TYPES: tuple[UserType, ...] = ("benign", "vulnerable", "malicious")
NONE = "none"


@dataclass(frozen=True, slots=True)
class SeverityTier:
    """What one severity level (0-3) means for a category.

    Attributes:
        meaning: A sentence describing the tier.
        examples: Short example requests at this tier.
    """

    meaning: str
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Category:
    """A hazard category.

    Attributes:
        id: Stable snake_case id.
        parent: Parent id, or ``None`` for a top-level hazard.
        name: Human-readable name.
        name_zh: Chinese name.
        classifier_label: Whether the assessor predicts this category directly.
        description: What the category covers.
        severity: Tiers 0-3.
        expected_behaviour: The expected assistant behaviour per user type.
        guidelines: Short statements the reasoning chain quotes.
        guidelines_zh: The same statements in Chinese.
        hard_limits: What is never provided, whoever asks.
        oyster: Oyster-I categories mapped onto this node.
    """

    id: str
    parent: str | None
    name: str
    name_zh: str
    classifier_label: bool
    description: str
    severity: Mapping[int, SeverityTier]
    expected_behaviour: Mapping[str, str]
    guidelines: tuple[str, ...]
    guidelines_zh: tuple[str, ...]
    hard_limits: tuple[str, ...]
    oyster: tuple[str, ...] = ()

    def guidelines_for(self, lang: str) -> tuple[str, ...]:
        """The guideline statements in ``lang`` (``zh`` or anything else for English)."""
        return self.guidelines_zh if lang == "zh" and self.guidelines_zh else self.guidelines


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A versioned set of hazard categories with explicit parents.

    Attributes:
        version: The data version (semver).
        name: Name of the taxonomy (with overlays appended).
        categories: Categories by id.
        severity_scale: What each severity level means in general.
        user_types: What each user type means.
        global_guidelines: Statements that apply to every category.
        oyster_mapping: Oyster-I category name to category id.
    """

    version: str
    name: str
    categories: Mapping[str, Category]
    severity_scale: Mapping[int, str]
    user_types: Mapping[str, str]
    global_guidelines: tuple[str, ...]
    oyster_mapping: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, category_id: str) -> Category:
        try:
            return self.categories[category_id]
        except KeyError:
            raise ConfigError(f"unknown risk category {category_id!r}") from None

    def __contains__(self, category_id: object) -> bool:
        return category_id in self.categories

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    @property
    def classifier_labels(self) -> tuple[str, ...]:
        """Ids the assessor predicts, in file order, preceded by ``none``."""
        return (NONE, *(c.id for c in self.categories.values() if c.classifier_label))

    def ancestors(self, category_id: str) -> tuple[str, ...]:
        """The category's parents, nearest first."""
        out: list[str] = []
        parent = self[category_id].parent
        while parent is not None:
            out.append(parent)
            parent = self.categories[parent].parent
        return tuple(out)

    def top_level(self, category_id: str) -> str:
        """The top-level hazard a category belongs to."""
        chain = self.ancestors(category_id)
        return chain[-1] if chain else category_id

    def label_of(self, category_id: str) -> str | None:
        """The nearest classifier label at or above a category (``None`` for a group node like ``cbrne``)."""
        for cid in (category_id, *self.ancestors(category_id)):
            if self.categories[cid].classifier_label:
                return cid
        return None

    def children(self, category_id: str) -> tuple[str, ...]:
        """Direct children of a category."""
        return tuple(c.id for c in self.categories.values() if c.parent == category_id)


def _tier(raw: Any, where: str) -> SeverityTier:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("meaning"), str):
        raise ConfigError(f"{where}: needs a 'meaning' string")
    return SeverityTier(meaning=raw["meaning"], examples=_strings(raw.get("examples"), f"{where}.examples"))


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: must be a list of strings")
    return tuple(raw)


def _text(raw: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: must be a string, not {type(value).__name__}")
    return value


def _text_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError(f"{where}: must be an object of strings")
    return {str(k): v for k, v in raw.items()}


def _category(raw: Any) -> Category:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"taxonomy categories: each entry must be an object, not {str(raw)[:80]!r}")
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise ConfigError(f"taxonomy category without an id: {str(raw)[:80]}")
    where = f"category {cid!r}"
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise ConfigError(f"{where}.parent: must be a category id or null")
    label = raw.get("classifier_label", False)
    if not isinstance(label, bool):
        # bool("false") is True: a quoted flag would silently change what the assessor predicts.
        raise ConfigError(f"{where}.classifier_label: must be true or false")
    severity_raw = raw.get("severity", {})
    if not isinstance(severity_raw, Mapping) or sorted(severity_raw) != ["0", "1", "2", "3"]:
        raise ConfigError(f"{where}: severity must define tiers 0, 1, 2 and 3")
    behaviour = raw.get("expected_behaviour", {})
    if not isinstance(behaviour, Mapping) or set(behaviour) != set(USER_TYPES):
        raise ConfigError(f"{where}: expected_behaviour must cover benign, vulnerable and malicious")
    return Category(
        id=cid,
        parent=parent,
        name=_text(raw, "name", cid, where),
        name_zh=_text(raw, "name_zh", "", where),
        classifier_label=label,
        description=_text(raw, "description", "", where),
        severity={int(k): _tier(v, f"{where} severity {k}") for k, v in severity_raw.items()},
        expected_behaviour=_text_map(behaviour, f"{where}.expected_behaviour"),
        guidelines=_strings(raw.get("guidelines"), f"{where}.guidelines"),
        guidelines_zh=_strings(raw.get("guidelines_zh"), f"{where}.guidelines_zh"),
        hard_limits=_strings(raw.get("hard_limits"), f"{where}.hard_limits"),
        oyster=_strings(raw.get("oyster"), f"{where}.oyster"),
    )


def _categories(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"taxonomy categories: must be a list of category objects, not {type(raw).__name__}")
    return raw


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Apply an overlay: top-level keys replace, ``categories`` entries merge by id (fields replace)."""
    merged = {k: v for k, v in base.items() if k != "categories"}
    for key, value in overlay.items():
        if key not in ("categories", "name", "version"):
            merged[key] = value
    by_id = {c["id"]: dict(c) for c in _categories(base.get("categories"))}
    for cat in _categories(overlay.get("categories")):
        if not isinstance(cat, Mapping) or not isinstance(cat.get("id"), str) or not cat["id"]:
            raise ConfigError(f"taxonomy categories: each entry needs a string 'id': {str(cat)[:80]}")
        cid = cat["id"]
        if cid in by_id:
            by_id[cid].update(cat)
        else:
            by_id[cid] = dict(cat)
    merged["categories"] = list(by_id.values())
    merged["name"] = f"{base.get('name', 'taxonomy')}+{overlay.get('name', 'overlay')}"
    return merged


def build_taxonomy(data: Mapping[str, Any]) -> Taxonomy:
    """Validate taxonomy JSON data and build a :class:`Taxonomy`.

    Raises:
        ConfigError: If a field is missing, a parent is unknown, parents form a cycle, or an Oyster mapping
            points at an unknown id.
    """
    cats = [_category(c) for c in _categories(data.get("categories"))]
    by_id: dict[str, Category] = {}
    for cat in cats:
        if cat.id in by_id:
            raise ConfigError(f"taxonomy: duplicate category id {cat.id!r}")
        if cat.id == NONE:
            raise ConfigError(f"taxonomy: {NONE!r} is reserved for 'no hazard'")
        by_id[cat.id] = cat
    for cat in cats:
        seen = {cat.id}
        parent = cat.parent
        while parent is not None:
            if parent not in by_id:
                raise ConfigError(f"taxonomy: category {cat.id!r} has unknown parent {parent!r}")
            if parent in seen:
                raise ConfigError(f"taxonomy: parent cycle through {parent!r}")
            seen.add(parent)
            parent = by_id[parent].parent
    mapping = _text_map(data.get("oyster_mapping"), "taxonomy oyster_mapping")
    for name, target in mapping.items():
        if target not in by_id:
            raise ConfigError(f"taxonomy: Oyster category {name!r} maps to unknown id {target!r}")
    scale = _text_map(data.get("severity_scale"), "taxonomy severity_scale")
    if any(k not in ("0", "1", "2", "3") for k in scale):
        raise ConfigError(f"taxonomy severity_scale: keys must be the tiers '0' to '3', not {sorted(scale)}")
    return Taxonomy(
        version=_text(data, "version", "0", "taxonomy"),
        name=_text(data, "name", "taxonomy", "taxonomy"),
        categories=by_id,
        severity_scale={int(k): v for k, v in scale.items()},
        user_types=_text_map(data.get("user_types"), "taxonomy user_types"),
        global_guidelines=_strings(data.get("global_guidelines"), "global_guidelines"),
        oyster_mapping=mapping,
    )


def _read_json(path: Path | Readable) -> dict[str, Any]:
    data = read_json_file(path, "taxonomy file")
    if not isinstance(data, dict):
        raise ConfigError(f"taxonomy file {path} must hold a JSON object")
    return data


def load_taxonomy(*overlays: str | Path) -> Taxonomy:
    """Load the shipped base taxonomy, then apply locale or organisation overlays in order.

    Args:
        overlays: Paths of JSON overlay files. An overlay may replace top-level fields and add or patch
            categories by id (e.g. a locale file that changes guidelines and crisis wording).

    Returns:
        The validated taxonomy.

    Raises:
        ConfigError: If a file cannot be read or the result is invalid; the message names the file whose
            content (the base, or the overlay just applied) made it invalid.
    """
    base = resources.files("nacre.data").joinpath("taxonomy/base.json")
    data = _read_json(base)
    taxonomy = _validated(data, base)
    for overlay in overlays:
        path = Path(overlay)
        try:
            data = _merge(data, _read_json(path))
        except ConfigError as exc:
            raise _in_file(exc, path) from None
        # Each layer is validated as it is applied, so an error names the overlay that introduced it.
        taxonomy = _validated(data, path)
    return taxonomy


def _in_file(exc: ConfigError, path: Path | Readable) -> ConfigError:
    message = str(exc)
    return exc if str(path) in message else ConfigError(f"taxonomy file {path}: {message}")


def _validated(data: Mapping[str, Any], path: Path | Readable) -> Taxonomy:
    try:
        return build_taxonomy(data)
    except ConfigError as exc:
        raise _in_file(exc, path) from None
