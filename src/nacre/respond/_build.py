"""Building the safety reasoning chain from an assessment, a strategy and the taxonomy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nacre._jsonfile import Readable, read_json_file
from nacre.assess import RiskAssessment
from nacre.errors import ConfigError
from nacre.respond._chain import SafetyChain
from nacre.strategy import STRATEGIES, Strategy
from nacre.taxonomy import NONE, USER_TYPES, Category, Taxonomy

INTERACTION_KEYS = ("declarative", "inquiry", "directive")
# Keys a strategy's phrase lists may use, in the order the chain takes them.
_PHRASE_KEYS = ("jailbreak", *USER_TYPES, "all", *INTERACTION_KEYS)
# Posterior above which a second user type is worth naming in the needs node.
_SECOND_TYPE = 0.3
# Strategies that only make sense when the decision saw a risk: their chain keeps the risk branch.
_COMPLYING: frozenset[str] = frozenset({"comply", "comply_with_care"})


@dataclass(frozen=True, slots=True)
class StrategyPhrases:
    """The strategy phrases of one strategy in one language.

    Attributes:
        safety: Phrase lists by key (``all``, a user type, an interaction type or ``jailbreak``).
        usefulness: The same for usefulness phrases.
    """

    safety: Mapping[str, tuple[str, ...]]
    usefulness: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class LanguageBook:
    """The chain wording of one language.

    Attributes:
        needs: Templates and phrases of the needs node.
        intent: Templates and phrases of the risk-intent node.
        generic_guidelines: Guidelines used when the category has none in this language.
        strategies: Strategy phrases by strategy.
    """

    needs: Mapping[str, Any]
    intent: Mapping[str, Any]
    generic_guidelines: tuple[str, ...]
    strategies: Mapping[str, StrategyPhrases]


@dataclass(frozen=True, slots=True)
class StrategyBook:
    """The shipped chain wording (``data/respond/strategies.json``).

    Attributes:
        version: Data version.
        max_safety: Most safety phrases kept in a chain.
        max_usefulness: Most usefulness phrases kept in a chain.
        max_guidelines: Most guideline statements quoted (the category's own come first).
        languages: Wording by language code.
    """

    version: str
    max_safety: int
    max_usefulness: int
    max_guidelines: int
    languages: Mapping[str, LanguageBook]

    def lang(self, lang: str) -> LanguageBook:
        """The wording for ``lang``, falling back to English."""
        return self.languages.get(lang) or self.languages["en"]


def _phrase_lists(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be an object of phrase lists")
    out: dict[str, tuple[str, ...]] = {}
    for key, phrases in raw.items():
        if key not in _PHRASE_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; use one of {', '.join(_PHRASE_KEYS)}")
        if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ConfigError(f"{where}.{key}: must be a list of non-empty strings")
        out[key] = tuple(phrases)
    return out


def _language(raw: Any, where: str) -> LanguageBook:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be an object")
    for key in ("needs", "intent", "strategies"):
        if not isinstance(raw.get(key), Mapping):
            raise ConfigError(f"{where}.{key}: missing or not an object")
    missing = [s for s in STRATEGIES if s not in raw["strategies"]]
    if missing:
        raise ConfigError(f"{where}: no strategy phrases for {', '.join(missing)}")
    strategies: dict[str, StrategyPhrases] = {
        s: StrategyPhrases(
            safety=_phrase_lists(raw["strategies"][s].get("safety", {}), f"{where}.strategies.{s}.safety"),
            usefulness=_phrase_lists(raw["strategies"][s].get("usefulness", {}), f"{where}.strategies.{s}.usefulness"),
        )
        for s in STRATEGIES
    }
    return LanguageBook(
        needs=raw["needs"],
        intent=raw["intent"],
        generic_guidelines=tuple(str(g) for g in raw.get("generic_guidelines", ())),
        strategies=strategies,
    )


def load_strategy_book(path: Path | None = None) -> StrategyBook:
    """Load the chain wording.

    Args:
        path: A JSON file with the schema of the shipped ``data/respond/strategies.json``; ``None`` loads that file.

    Returns:
        The validated wording.

    Raises:
        ConfigError: If the file cannot be read or lacks a field.
    """
    source: Path | Readable = path or resources.files("nacre.data").joinpath("respond/strategies.json")
    data = read_json_file(source, "strategy phrases file")
    if not isinstance(data, Mapping) or not isinstance(data.get("languages"), Mapping):
        raise ConfigError(f"strategy phrases file {source} needs a 'languages' object")
    languages = {str(k): _language(v, f"languages.{k}") for k, v in data["languages"].items()}
    if "en" not in languages:
        raise ConfigError(f"strategy phrases file {source} needs English ('en') wording")
    return StrategyBook(
        version=str(data.get("version", "0")),
        max_safety=int(data.get("max_safety", 6)),
        max_usefulness=int(data.get("max_usefulness", 4)),
        max_guidelines=int(data.get("max_guidelines", 8)),
        languages=languages,
    )


def chain_has_risk(assessment: RiskAssessment, strategy: Strategy) -> bool:
    """Whether the chain for this assessment and strategy keeps its risk branch.

    A message with no category or severity 0 has no risk. A message the assessor did not call harmful still carries
    risk when the decision chose a protective strategy: a distressed message is rarely "harmful", yet its guidelines
    (no method detail, crisis contacts) are exactly what the reply needs.
    """
    if assessment.category == NONE or assessment.severity <= 0:
        return False
    return assessment.harmful or strategy not in _COMPLYING


def _dedupe(items: Iterable[str], limit: int) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return tuple(out[:limit])


def _category_chain(taxonomy: Taxonomy, category_id: str) -> tuple[Category, ...]:
    if category_id not in taxonomy:
        return ()
    return (taxonomy[category_id], *(taxonomy[p] for p in taxonomy.ancestors(category_id)))


def topic_name(taxonomy: Taxonomy, category_id: str, lang: str) -> str:
    """The category's display name in ``lang`` (lower-cased in English unless it starts with an acronym)."""
    if category_id not in taxonomy:
        return ""
    cat = taxonomy[category_id]
    if lang == "zh" and cat.name_zh:
        return cat.name_zh
    name = cat.name
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def _needs(assessment: RiskAssessment, book: LanguageBook, topic: str) -> str:
    words = book.needs
    likely = assessment.likely_user_type
    second = max(
        (t for t in USER_TYPES if t != likely and t != "benign"),
        key=lambda t: assessment.user_type.get(t, 0.0),
    )
    also = ""
    if assessment.user_type.get(second, 0.0) >= _SECOND_TYPE:
        also = str(words["also"]).format(motive=words["motive"][second])
    return str(words["template"]).format(
        need=words["interaction"][assessment.interaction],
        topic=str(words["topic"]).format(topic=topic) if topic else "",
        motive=words["motive"][likely],
        also=also,
    )


def _signal_names(kinds: Iterable[str], lang: str) -> str:
    names = list(dict.fromkeys(k.replace("_", " ") for k in kinds))
    return ("、" if lang == "zh" else ", ").join(names)


def _risk_intent(assessment: RiskAssessment, book: LanguageBook, topic: str, lang: str) -> str:
    words = book.intent
    severity = str(min(max(assessment.severity, 1), 3))
    parts = [
        str(words["template"]).format(
            interaction=words["interaction"][assessment.interaction],
            form=words["form"][assessment.interaction],
            category=topic,
            severity=words["severity"][severity],
        )
    ]
    if assessment.likely_user_type == "vulnerable":
        parts.append(str(words["distress"]))
    jailbreak = [s.kind for s in assessment.signals if s.jailbreak]
    disguise = [s.kind for s in assessment.signals if not s.jailbreak]
    if jailbreak:
        parts.append(str(words["jailbreak"]).format(signals=_signal_names(jailbreak, lang)))
    if disguise:
        parts.append(str(words["obfuscation"]).format(signals=_signal_names(disguise, lang)))
    return ("" if lang == "zh" else " ").join(parts)


def _guidelines(cats: tuple[Category, ...], book: LanguageBook, lang: str, limit: int) -> tuple[str, ...]:
    quoted = _dedupe((g for cat in cats for g in cat.guidelines_for(lang)), limit)
    return quoted or book.generic_guidelines


def _phrases(lists: Mapping[str, tuple[str, ...]], keys: Iterable[str]) -> Iterable[str]:
    for key in keys:
        yield from lists.get(key, ())


def build_chain(
    assessment: RiskAssessment,
    strategy: Strategy,
    taxonomy: Taxonomy,
    *,
    lang: str,
    book: StrategyBook | None = None,
) -> SafetyChain:
    """Build the reasoning chain that steers the reply.

    Needs come from the interaction type and the user-type belief; the risk intent names the interaction, how the
    risk shows up, the category and any jailbreak or disguise signals; guidelines are quoted from the category and
    its ancestors in ``lang``; strategy phrases are chosen per strategy, user type and interaction. With no risk
    (see :func:`chain_has_risk`) the chain collapses to needs and usefulness strategies.

    Args:
        assessment: The (conversation-level) risk assessment.
        strategy: The chosen strategy.
        taxonomy: The risk taxonomy.
        lang: ``en`` or ``zh`` (other languages use English wording).
        book: The chain wording; ``None`` loads the shipped one.

    Returns:
        The chain.
    """
    book = book or load_strategy_book()
    words = book.lang(lang)
    lang = lang if lang in book.languages else "en"
    phrases = words.strategies[strategy]
    user = assessment.likely_user_type
    if not chain_has_risk(assessment, strategy):
        return SafetyChain(
            needs=_needs(assessment, words, ""),
            usefulness_strategies=_dedupe(_phrases(phrases.usefulness, (user, "all")), book.max_usefulness),
        )
    topic = topic_name(taxonomy, assessment.category, lang) or assessment.category.replace("_", " ")
    safety_keys = ("jailbreak",) if assessment.jailbreak else ()
    return SafetyChain(
        needs=_needs(assessment, words, topic),
        risk_intent=_risk_intent(assessment, words, topic, lang),
        guidelines=_guidelines(_category_chain(taxonomy, assessment.category), words, lang, book.max_guidelines),
        safety_strategies=_dedupe(
            _phrases(phrases.safety, (*safety_keys, user, "all", assessment.interaction)), book.max_safety
        ),
        usefulness_strategies=_dedupe(_phrases(phrases.usefulness, (user, "all")), book.max_usefulness),
    )
