"""Reading and validating a policy file: every error names the offending field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from nacre._jsonfile import read_json_file
from nacre.errors import ConfigError
from nacre.strategy._policy import (
    GENERAL,
    BeliefShift,
    BySeverity,
    Constraint,
    Domain,
    Policy,
    Tables,
    Weights,
    down_closed,
)
from nacre.strategy._types import REACTIONS, STRATEGIES, Reaction, Strategy
from nacre.taxonomy import USER_TYPES, Taxonomy, UserType

SCHEMA = 1
ROW_TOLERANCE = 1e-6
_SEVERITY_KEYS = ("0", "1", "2", "3")
_K = TypeVar("_K", bound=str)


class _Bad(Exception):
    """A field is invalid; carries the dotted path and the problem until the source name is known."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def _obj(raw: Any, where: str, *, required: Sequence[str] = (), optional: Sequence[str] = ()) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise _Bad(where or "policy", f"must be an object, got {type(raw).__name__}")
    for key in required:
        if key not in raw:
            raise _Bad(f"{where}.{key}" if where else key, "is missing")
    if required or optional:
        allowed = set(required) | set(optional)
        for key in raw:
            if key not in allowed:
                raise _Bad(
                    f"{where}.{key}" if where else str(key), f"unknown field (expected one of {sorted(allowed)})"
                )
    return raw


def _num(raw: Any, where: str, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise _Bad(where, f"must be a finite number, got {raw!r}")
    if not lo <= raw <= hi:
        raise _Bad(where, f"must be between {lo} and {hi}, got {raw!r}")
    return float(raw)


def _str(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw:
        raise _Bad(where, f"must be a non-empty string, got {raw!r}")
    return raw


def _keyed(raw: Any, where: str, keys: tuple[_K, ...]) -> dict[_K, Any]:
    """An object with exactly ``keys``."""
    obj = _obj(raw, where, required=keys, optional=())
    return {k: obj[k] for k in keys}


def _pick(value: Any, choices: tuple[_K, ...], where: str) -> _K:
    for c in choices:
        if c == value:
            return c
    raise _Bad(where, f"unknown value {value!r} (expected one of {list(choices)})")


def _distribution(raw: Any, where: str) -> dict[Reaction, float]:
    row = {r: _num(p, f"{where}.{r}", 0.0, 1.0) for r, p in _keyed(raw, where, REACTIONS).items()}
    total = sum(row.values())
    if abs(total - 1.0) > ROW_TOLERANCE:
        raise _Bad(where, f"probabilities sum to {total:.9g}, not 1 (tolerance {ROW_TOLERANCE})")
    return row


def _by_severity(raw: Any, where: str) -> BySeverity:
    obj = _obj(raw, where, optional=("*", *_SEVERITY_KEYS))
    rows: list[dict[Reaction, float]] = []
    for key in _SEVERITY_KEYS:
        if key in obj:
            rows.append(_distribution(obj[key], f"{where}.{key}"))
        elif "*" in obj:
            rows.append(_distribution(obj["*"], f"{where}.*"))
        else:
            raise _Bad(where, f"no row for severity {key} (give '{key}' or a default '*')")
    return (rows[0], rows[1], rows[2], rows[3])


def _per_type_strategy(raw: Any, where: str, *, partial: bool) -> dict[UserType, dict[Strategy, Any]]:
    """``{type: {strategy: value}}`` with every key present, or (``partial``) only known keys."""
    types = _obj(raw, where, required=() if partial else USER_TYPES, optional=USER_TYPES)
    out: dict[UserType, dict[Strategy, Any]] = {}
    for t in USER_TYPES:
        if t in types:
            inner = _obj(types[t], f"{where}.{t}", required=() if partial else STRATEGIES, optional=STRATEGIES)
            out[t] = {s: inner[s] for s in STRATEGIES if s in inner}
    return out


def _tables(raw: Mapping[str, Any], where: str, base: Tables | None) -> Tables:
    partial = base is not None
    prefix = f"{where}." if where else ""
    reactions_raw = _per_type_strategy(raw.get("reactions", {}), f"{prefix}reactions", partial=partial)
    sat_raw = _per_type_strategy(raw.get("satisfaction", {}), f"{prefix}satisfaction", partial=partial)
    reactions: dict[UserType, dict[Strategy, BySeverity]] = {}
    satisfaction: dict[UserType, dict[Strategy, dict[Reaction, float]]] = {}
    for t in USER_TYPES:
        reactions[t] = dict(base.reactions[t]) if base is not None else {}
        satisfaction[t] = {s: dict(v) for s, v in base.satisfaction[t].items()} if base is not None else {}
        for s, value in reactions_raw.get(t, {}).items():
            reactions[t][s] = _by_severity(value, f"{prefix}reactions.{t}.{s}")
        for s, value in sat_raw.get(t, {}).items():
            w = f"{prefix}satisfaction.{t}.{s}"
            satisfaction[t][s] = {r: _num(v, f"{w}.{r}", -1.0, 1.0) for r, v in _keyed(value, w, REACTIONS).items()}
    return Tables(reactions=reactions, satisfaction=satisfaction)


def _ids(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not raw:
        raise _Bad(where, "must be a non-empty list of taxonomy ids")
    return frozenset(_str(x, f"{where}[{i}]") for i, x in enumerate(raw))


def _strategies(raw: Any, where: str) -> frozenset[Strategy]:
    if raw == "*":
        return frozenset(STRATEGIES)
    if not isinstance(raw, list) or not raw:
        raise _Bad(where, "must be a non-empty list of strategies or '*'")
    return frozenset(_pick(x, STRATEGIES, f"{where}[{i}]") for i, x in enumerate(raw))


def _shift(raw: Any, where: str) -> BeliefShift:
    obj = _obj(raw, where, required=("reaction", "after", "weight", "toward"), optional=("why",))
    toward_raw = obj["toward"]
    toward: dict[UserType, float] | None = None
    if toward_raw != "current":
        obj_t = _obj(toward_raw, f"{where}.toward", optional=USER_TYPES)
        toward = {t: _num(obj_t.get(t, 0.0), f"{where}.toward.{t}", 0.0, 1.0) for t in USER_TYPES}
        if abs(sum(toward.values()) - 1.0) > ROW_TOLERANCE:
            raise _Bad(f"{where}.toward", f"probabilities sum to {sum(toward.values()):.9g}, not 1")
    return BeliefShift(
        reaction=_pick(obj["reaction"], REACTIONS, f"{where}.reaction"),
        after=_strategies(obj["after"], f"{where}.after"),
        weight=_num(obj["weight"], f"{where}.weight", 0.0, 1.0),
        toward=toward,
    )


def _constraint(raw: Any, where: str) -> Constraint:
    obj = _obj(
        raw,
        where,
        required=("id", "description", "forbid"),
        optional=("top_levels", "min_severity", "min_harm_probability", "no_specifics"),
    )
    forbid = _strategies(obj["forbid"], f"{where}.forbid")
    if "refuse_with_help" in forbid:
        raise _Bad(f"{where}.forbid", "must leave refuse_with_help allowed, so that some strategy always remains")
    if not down_closed(forbid):
        raise _Bad(f"{where}.forbid", "must also forbid every strategy less cautious than one it forbids")
    severity = obj.get("min_severity", 0)
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= 3:
        raise _Bad(f"{where}.min_severity", f"must be an integer 0-3, got {severity!r}")
    no_specifics = obj.get("no_specifics", False)
    if not isinstance(no_specifics, bool):
        raise _Bad(f"{where}.no_specifics", f"must be true or false, got {no_specifics!r}")
    return Constraint(
        id=_str(obj["id"], f"{where}.id"),
        description=_str(obj["description"], f"{where}.description"),
        forbid=forbid,
        top_levels=_ids(obj["top_levels"], f"{where}.top_levels") if "top_levels" in obj else frozenset(),
        min_severity=severity,
        min_harm_probability=_num(obj.get("min_harm_probability", 0.0), f"{where}.min_harm_probability", 0.0, 1.0),
        no_specifics=no_specifics,
    )


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise _Bad(where, "must be a list")
    return raw


def _build(data: Any, taxonomy: Taxonomy | None) -> Policy:
    top = _obj(
        data,
        "",
        required=("schema", "version", "name", "weights", "cost", "risk", "satisfaction", "reactions"),
        optional=("description", "domains", "belief_shift", "constraints"),
    )
    if top["schema"] != SCHEMA:
        raise _Bad("schema", f"unsupported policy schema {top['schema']!r} (this nacre reads schema {SCHEMA})")
    w = _keyed(top["weights"], "weights", ("alpha", "beta", "gamma", "discount", "risk_floor"))
    weights = Weights(
        alpha=_num(w["alpha"], "weights.alpha", 0.0),
        beta=_num(w["beta"], "weights.beta", 0.0),
        gamma=_num(w["gamma"], "weights.gamma", 0.0),
        discount=_num(w["discount"], "weights.discount", 0.0, 1.0),
        risk_floor=_num(w["risk_floor"], "weights.risk_floor", 0.0, 1.0),
    )
    cost = {s: _num(v, f"cost.{s}") for s, v in _keyed(top["cost"], "cost", STRATEGIES).items()}
    risk: dict[Reaction, tuple[float, float, float, float]] = {}
    for r, row in _keyed(top["risk"], "risk", REACTIONS).items():
        if not isinstance(row, list) or len(row) != 4:
            raise _Bad(f"risk.{r}", "must be a list of 4 numbers, one per severity 0-3")
        r0, r1, r2, r3 = (_num(x, f"risk.{r}[{i}]", 0.0) for i, x in enumerate(row))
        risk[r] = (r0, r1, r2, r3)
    general = _tables(top, "", None)
    domains: list[Domain] = []
    for i, raw in enumerate(_list(top.get("domains", []), "domains")):
        where = f"domains[{i}]"
        obj = _obj(raw, where, required=("id", "top_levels"), optional=("description", "reactions", "satisfaction"))
        domain_id = _str(obj["id"], f"{where}.id")
        if domain_id == GENERAL or any(d.id == domain_id for d in domains):
            raise _Bad(f"{where}.id", f"{domain_id!r} is reserved or already used")
        domains.append(
            Domain(
                id=domain_id,
                description=str(obj.get("description", "")),
                top_levels=_ids(obj["top_levels"], f"{where}.top_levels"),
                tables=_tables(obj, where, general),
            )
        )
    shifts = tuple(
        _shift(raw, f"belief_shift[{i}]") for i, raw in enumerate(_list(top.get("belief_shift", []), "belief_shift"))
    )
    constraints: list[Constraint] = []
    for i, raw in enumerate(_list(top.get("constraints", []), "constraints")):
        c = _constraint(raw, f"constraints[{i}]")
        if any(other.id == c.id for other in constraints):
            raise _Bad(f"constraints[{i}].id", f"duplicate id {c.id!r}")
        constraints.append(c)
    if taxonomy is not None:
        named = [(f"domains[{i}].top_levels", d.top_levels) for i, d in enumerate(domains)]
        named += [(f"constraints[{i}].top_levels", c.top_levels) for i, c in enumerate(constraints)]
        for where, ids in named:
            unknown = sorted(x for x in ids if x not in taxonomy)
            if unknown:
                raise _Bad(where, f"unknown taxonomy ids {unknown}")
    return Policy(
        version=_str(top["version"], "version"),
        name=_str(top["name"], "name"),
        description=str(top.get("description", "")),
        weights=weights,
        cost=cost,
        risk=risk,
        general=general,
        domains=tuple(domains),
        belief_shifts=shifts,
        constraints=tuple(constraints),
    )


def build_policy(data: Mapping[str, Any], *, taxonomy: Taxonomy | None = None, source: str = "data") -> Policy:
    """Validate policy data (the parsed JSON of a policy file) and build a :class:`Policy`.

    Args:
        data: The policy as plain JSON values.
        taxonomy: If given, every taxonomy id the policy names must exist in it.
        source: Where the data came from, for error messages.

    Returns:
        The validated policy, with its solver tables precomputed.

    Raises:
        ConfigError: If a field is missing, unknown, out of range, a probability row does not sum to 1, or a
            constraint is malformed; the message names the field, e.g. ``reactions.benign.comply.2``.
    """
    try:
        return _build(data, taxonomy)
    except _Bad as exc:
        raise ConfigError(f"invalid strategy policy {source}: {exc}") from None


def load_policy(path: str | Path | None = None, *, taxonomy: Taxonomy | None = None) -> Policy:
    """Load a policy file, by default the shipped ``nacre/data/strategy/policy.json``.

    Args:
        path: A policy JSON file; ``None`` for the shipped one.
        taxonomy: If given, every taxonomy id the policy names must exist in it.

    Returns:
        The validated policy.

    Raises:
        ConfigError: If the file cannot be read, repeats a key within an object, or is invalid (the message names
            the bad field).
    """
    if path is None:
        resource = resources.files("nacre.data").joinpath("strategy/policy.json")
        data = read_json_file(resource, "strategy policy", unique_keys=True)
        return build_policy(data, taxonomy=taxonomy, source="policy.json")
    # A repeated key (say a severity row given twice) would otherwise drop one of the rows without a word.
    data = read_json_file(Path(path), "strategy policy", unique_keys=True)
    return build_policy(data, taxonomy=taxonomy, source=str(path))
