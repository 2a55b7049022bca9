"""The response-contract data: lexicons, checks and each strategy's contract (``data/respond/contracts.json``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from typing import Any, Literal, get_args

from nacre._jsonfile import Readable, read_json_file
from nacre.errors import ConfigError
from nacre.strategy import STRATEGIES, Strategy

CheckKind = Literal["present", "absent", "substance", "resources", "leak"]
_KINDS: tuple[str, ...] = get_args(CheckKind)


@dataclass(frozen=True, slots=True)
class LexiconPattern:
    """One regular expression of a lexicon.

    Attributes:
        regex: The compiled expression (case-insensitive).
        min_count: How many matches it takes to count as a hit.
    """

    regex: re.Pattern[str]
    min_count: int = 1


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One check, as declared in the contracts file.

    Attributes:
        id: Stable id, e.g. ``crisis_resources``.
        kind: ``present`` / ``absent`` (lexicons), ``substance`` (word count), ``resources`` (the locale's crisis
            contacts) or ``leak`` (the chain leak detector).
        lexicons: Lexicon names the check matches.
        min_words: Fewest words the reply needs (``substance``; also required by ``present`` when > 0).
        max_count: Most lexicon matches allowed (``present``), e.g. a decline that must stay brief.
        label: A short tag reported with a failure, e.g. ``over-refusal``.
        description: What the check means, by language.
        repair: The instruction given to the generator when the check fails, by language.
    """

    id: str
    kind: CheckKind
    lexicons: tuple[str, ...] = ()
    min_words: int = 0
    max_count: int | None = None
    label: str = ""
    description: Mapping[str, str] | None = None
    repair: Mapping[str, str] | None = None

    def text(self, field: Mapping[str, str] | None, lang: str) -> str:
        """A localised field (description or repair), falling back to English."""
        if not field:
            return ""
        return field.get(lang) or field.get("en", "")


@dataclass(frozen=True, slots=True)
class Contract:
    """The checks a strategy's reply must pass.

    Attributes:
        strategy: The strategy.
        required: Checks for elements the reply must contain.
        forbidden: Checks for elements the reply must not contain.
    """

    strategy: Strategy
    required: tuple[str, ...]
    forbidden: tuple[str, ...]


def _patterns(raw: Any, where: str) -> tuple[LexiconPattern, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must map languages to lists of patterns")
    out: list[LexiconPattern] = []
    for lang, entries in raw.items():
        for i, entry in enumerate(entries):
            pattern, count = (entry, 1) if isinstance(entry, str) else (entry.get("pattern"), entry.get("min", 1))
            try:
                out.append(LexiconPattern(re.compile(str(pattern), re.IGNORECASE), int(count)))
            except (re.error, TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.{lang}[{i}]: invalid pattern: {exc}") from None
    return tuple(out)


def _check_spec(cid: str, raw: Any, lexicons: Mapping[str, Any]) -> CheckSpec:
    where = f"contracts check {cid!r}"
    if not isinstance(raw, Mapping) or raw.get("kind") not in _KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(_KINDS)}")
    names = tuple(str(n) for n in raw.get("lexicons", raw.get("fallback_lexicons", ())))
    unknown = [n for n in names if n not in lexicons]
    if unknown:
        raise ConfigError(f"{where}: unknown lexicons {', '.join(unknown)}")
    if raw["kind"] in ("present", "absent") and not names:
        raise ConfigError(f"{where}: a {raw['kind']} check needs lexicons")
    return CheckSpec(
        id=cid,
        kind=raw["kind"],
        lexicons=names,
        min_words=int(raw.get("min_words", 0)),
        max_count=int(raw["max_count"]) if raw.get("max_count") is not None else None,
        label=str(raw.get("label", "")),
        description={str(k): str(v) for k, v in raw.get("description", {}).items()},
        repair={str(k): str(v) for k, v in raw.get("repair", {}).items()},
    )


@dataclass(frozen=True, slots=True)
class Contracts:
    """The response contracts of every strategy.

    Attributes:
        version: Data version.
        lexicons: Compiled lexicons by name (English and Chinese patterns together).
        checks: Check specifications by id.
        contracts: The contract of each strategy.
    """

    version: str
    lexicons: Mapping[str, tuple[LexiconPattern, ...]]
    checks: Mapping[str, CheckSpec]
    contracts: Mapping[str, Contract]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contracts:
        """Validate and compile contracts data.

        Raises:
            ConfigError: If a lexicon, check or contract is malformed or refers to something unknown.
        """
        raw_lex = data.get("lexicons", {})
        lexicons = {str(k): _patterns(v, f"contracts lexicon {k!r}") for k, v in raw_lex.items()}
        checks = {str(k): _check_spec(str(k), v, lexicons) for k, v in data.get("checks", {}).items()}
        contracts: dict[str, Contract] = {}
        for strategy in STRATEGIES:
            raw = data.get("contracts", {}).get(strategy)
            if not isinstance(raw, Mapping):
                raise ConfigError(f"contracts: no contract for strategy {strategy!r}")
            required = tuple(str(c) for c in raw.get("required", ()))
            forbidden = tuple(str(c) for c in raw.get("forbidden", ()))
            unknown = [c for c in (*required, *forbidden) if c not in checks]
            if unknown:
                raise ConfigError(f"contracts: strategy {strategy!r} uses unknown checks {', '.join(unknown)}")
            contracts[strategy] = Contract(strategy, required, forbidden)
        return cls(str(data.get("version", "0")), lexicons, checks, contracts)

    @classmethod
    def load(cls, path: Path | None = None) -> Contracts:
        """Load contracts (the shipped ``data/respond/contracts.json`` unless ``path`` is given).

        Raises:
            ConfigError: If the file cannot be read or is invalid.
        """
        source: Path | Readable = path or package_files.files("nacre.data").joinpath("respond/contracts.json")
        data = read_json_file(source, "contracts file")
        if not isinstance(data, Mapping):
            raise ConfigError(f"contracts file {source} must hold a JSON object")
        return cls.from_dict(data)
