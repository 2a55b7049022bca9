"""Curated fallback replies: crisis resources by locale and reviewed templates per category.

When generation keeps failing its contract (or the model is down), the reply is composed from shipped, reviewed
data instead: ``data/respond/crisis_resources.json`` and ``data/respond/templates.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from nacre._jsonfile import Readable, read_json_file
from nacre.errors import ConfigError
from nacre.respond._build import topic_name
from nacre.strategy import Strategy
from nacre.taxonomy import Taxonomy, load_taxonomy

ResourceKind = Literal["phone", "text", "web"]
DEFAULT_LOCALE = "default"
# Where no locale is given, the language suggests one; English has no single region, so it gets the international list.
LANGUAGE_LOCALES: Mapping[str, str] = MappingProxyType({"zh": "CN"})
_ALIASES: Mapping[str, str] = MappingProxyType({"UK": "GB"})
_TEMPLATE_STRATEGIES = ("refuse_with_help", "safe_alternative")


@dataclass(frozen=True, slots=True)
class _Wording:
    no_resources: str
    unavailable: str
    resources_intro: str
    care_note: str
    this_topic: str
    call: str
    hours: str


_WORDING: Mapping[str, _Wording] = MappingProxyType(
    {
        "en": _Wording(
            no_resources="- Your local emergency number, if you or someone else is in immediate danger",
            unavailable=(
                "I'm sorry, I couldn't put together a reliable answer just now. Could you ask again, perhaps with a "
                "little more detail about what you need?"
            ),
            resources_intro="If you'd like to talk to someone right now, these services are there for you:",
            care_note=(
                "Please note: this is general information. Where the details matter for your situation, check them "
                "with a qualified professional or an official source."
            ),
            this_topic="this topic",
            call="call {contact}",
            hours=" ({hours})",
        ),
        "zh": _Wording(
            no_resources="- 当地的紧急求助电话（如果你或他人正面临紧急危险）",
            unavailable="抱歉，我刚才没能整理出可靠的回答。可以再问一次吗？也可以多说一些你需要的具体内容。",
            resources_intro="如果你想现在就找人聊聊，这些求助渠道随时可以联系：",
            care_note="请注意：以上是一般性信息；涉及你具体情况的细节，建议再向专业人士或官方渠道核实。",
            this_topic="这个话题",
            call="拨打 {contact}",
            hours="（{hours}）",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class CrisisResource:
    """One crisis service.

    Attributes:
        name: The service's name.
        contact: How to reach it: a number, a text instruction or a web address.
        kind: ``phone``, ``text`` or ``web``.
        hours: When it answers.
        source: Where the entry was checked.
        last_verified: ISO date of the last check.
        translations: ``(lang, name, contact, hours)`` for other reply languages, so that a Chinese reply can list
            a US line in Chinese; an empty field there falls back to the original.
    """

    name: str
    contact: str
    kind: ResourceKind
    hours: str = ""
    source: str = ""
    last_verified: str = ""
    translations: tuple[tuple[str, str, str, str], ...] = ()

    def text_in(self, lang: str) -> tuple[str, str, str]:
        """The name, contact and hours to show in a reply in ``lang`` (the original where there is no translation)."""
        for language, name, contact, hours in self.translations:
            if language == lang:
                return name or self.name, contact or self.contact, hours or self.hours
        return self.name, self.contact, self.hours

    def names(self) -> tuple[str, ...]:
        """The service's name in every language it has."""
        return (self.name, *(name for _, name, _, _ in self.translations if name))


@dataclass(frozen=True, slots=True)
class LocaleResources:
    """The crisis services of one locale.

    Attributes:
        locale: The locale key (``US``, ``GB``, ``CN``, ``default``, ...).
        lang: The language the services work in.
        resources: The services, in the order to show them.
    """

    locale: str
    lang: str
    resources: tuple[CrisisResource, ...]


@dataclass(frozen=True, slots=True)
class CrisisDirectory:
    """Crisis services by locale.

    Attributes:
        version: Data version.
        last_reviewed: ISO date of the last review.
        locales: Services by locale key.
    """

    version: str
    last_reviewed: str
    locales: Mapping[str, LocaleResources]

    def resolve(self, locale: str | None, lang: str) -> LocaleResources:
        """The services for a locale: its region, else its language's usual region, else ``default``.

        A locale that names a region with no listed services (``FR``, ``zh-FR``) gets the international list, not
        the services of the language's usual region: the person is there, and another country's lines may not be
        reachable from it. A locale that names only a language (``zh``, ``zh-Hans``) is read like the reply
        language. Without a locale, the reply language suggests one.

        Args:
            locale: A region code (``US``), a language tag (``en-GB``, ``zh_CN``, ``zh-Hans``) or ``None``.
            lang: The reply language.

        Returns:
            The services; empty if the directory has no matching or default entry.
        """
        key = normalize_locale(locale)
        if locale and key is not None and key not in self.locales:
            language = _language_only(locale, key)
            key = LANGUAGE_LOCALES[language] if language else key
        if key is None:
            key = LANGUAGE_LOCALES.get(lang, DEFAULT_LOCALE)
        for candidate in (key, DEFAULT_LOCALE):
            if candidate in self.locales:
                return self.locales[candidate]
        return LocaleResources(DEFAULT_LOCALE, lang, ())

    def lists(self, locale: str) -> bool:
        """Whether ``locale`` has services of its own, rather than falling back to the international list.

        ``default`` itself counts as listed, and so does a language alone whose usual region is (``zh``).
        """
        return normalize_locale(locale) == DEFAULT_LOCALE or self.resolve(locale, "en").locale != DEFAULT_LOCALE


def normalize_locale(locale: str | None) -> str | None:
    """Turn ``en-GB``, ``zh_cn``, ``uk`` or ``us`` into a directory key (``GB``, ``CN``, ``GB``, ``US``).

    The key is the tag's region subtag (two letters or three digits after the language; script subtags such as
    ``Hans`` and private-use parts after ``x`` are skipped), or the whole code when it is a single subtag. A tag with
    no region (``zh-Hans``) gives its language part upper-cased, which no directory lists.
    """
    if not locale or not locale.strip():
        return None
    raw = locale.strip()
    if raw.lower() == DEFAULT_LOCALE:
        return DEFAULT_LOCALE
    parts = re.split(r"[-_]", raw)
    region = parts[0]
    for part in parts[1:]:
        if part.lower() == "x":
            break
        if re.fullmatch(r"[A-Za-z]{2}|\d{3}", part):
            region = part
    return _ALIASES.get(region.upper(), region.upper())


def _language_only(locale: str, key: str) -> str | None:
    """The language of a tag that names one the directory maps to a region, and no region (``zh``, ``zh-Hans``).

    ``key`` is the tag's :func:`normalize_locale`: for a tag with no region, its language part upper-cased.
    """
    language = re.split(r"[-_]", locale.strip())[0].lower()
    return language if language in LANGUAGE_LOCALES and key == language.upper() else None


@dataclass(frozen=True, slots=True)
class Templates:
    """Reviewed reply templates.

    Attributes:
        version: Data version.
        by_category: Category id (or ``default``) -> language -> strategy -> template.
        support: Language -> support templates.
    """

    version: str
    by_category: Mapping[str, Mapping[str, Mapping[str, str]]]
    support: Mapping[str, tuple[str, ...]]


def _source(path: Path | None, name: str) -> Path | Readable:
    return path or package_files.files("nacre.data").joinpath(f"respond/{name}")


def _resource(raw: Any, where: str) -> CrisisResource:
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str) for k in ("name", "contact", "kind")):
        raise ConfigError(f"{where}: needs 'name', 'contact' and 'kind' strings")
    if raw["kind"] not in ("phone", "text", "web"):
        raise ConfigError(f"{where}: kind must be phone, text or web, got {raw['kind']!r}")
    return CrisisResource(
        name=raw["name"],
        contact=raw["contact"],
        kind=raw["kind"],
        hours=str(raw.get("hours", "")),
        source=str(raw.get("source", "")),
        last_verified=str(raw.get("last_verified", "")),
        translations=_translations(raw.get("translations", {}), f"{where}.translations"),
    )


def _translations(raw: Any, where: str) -> tuple[tuple[str, str, str, str], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be an object of language -> {{name, contact, hours}}")
    out = []
    for lang, fields in raw.items():
        if not isinstance(fields, Mapping) or not set(fields) <= {"name", "contact", "hours"}:
            raise ConfigError(f"{where}.{lang}: must be an object with 'name', 'contact' and/or 'hours'")
        if not all(isinstance(v, str) for v in fields.values()):
            raise ConfigError(f"{where}.{lang}: every field must be a string")
        out.append((str(lang), fields.get("name", ""), fields.get("contact", ""), fields.get("hours", "")))
    return tuple(out)


def load_crisis_directory(path: Path | None = None) -> CrisisDirectory:
    """Load crisis resources (the shipped ``data/respond/crisis_resources.json`` unless ``path`` is given).

    Raises:
        ConfigError: If the file cannot be read or has the wrong shape.
    """
    source = _source(path, "crisis_resources.json")
    data = read_json_file(source, "crisis resources file")
    if not isinstance(data, Mapping) or not isinstance(data.get("locales"), Mapping):
        raise ConfigError(f"crisis resources file {source} needs a 'locales' object")
    locales: dict[str, LocaleResources] = {}
    for key, entry in data["locales"].items():
        where = f"crisis resources locale {key!r}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resources"), list):
            raise ConfigError(f"{where}: needs a 'resources' list")
        items = tuple(_resource(r, f"{where} resource {i}") for i, r in enumerate(entry["resources"]))
        locales[str(key)] = LocaleResources(str(key), str(entry.get("lang", "en")), items)
    return CrisisDirectory(str(data.get("version", "0")), str(data.get("last_reviewed", "")), locales)


def load_templates(path: Path | None = None) -> Templates:
    """Load reply templates (the shipped ``data/respond/templates.json`` unless ``path`` is given).

    Raises:
        ConfigError: If the file cannot be read or has the wrong shape.
    """
    source = _source(path, "templates.json")
    data = read_json_file(source, "templates file")
    if not isinstance(data, Mapping) or not isinstance(data.get("templates"), Mapping):
        raise ConfigError(f"templates file {source} needs a 'templates' object")
    by_category: dict[str, dict[str, dict[str, str]]] = {}
    for cid, langs in data["templates"].items():
        if not isinstance(langs, Mapping):
            raise ConfigError(f"templates file {source}: entry {cid!r} must map languages to templates")
        by_category[str(cid)] = {
            str(lang): {str(k): str(v) for k, v in entry.items() if isinstance(v, str)}
            for lang, entry in langs.items()
            if isinstance(entry, Mapping)
        }
    support_raw = data.get("support", {})
    if not isinstance(support_raw, Mapping):
        raise ConfigError(f"templates file {source}: 'support' must map languages to lists of templates")
    support = {str(k): tuple(str(t) for t in v) for k, v in support_raw.items() if isinstance(v, list)}
    return Templates(str(data.get("version", "0")), by_category, support)


def _wording(lang: str) -> _Wording:
    return _WORDING.get(lang) or _WORDING["en"]


def format_resources(resources: LocaleResources, *, lang: str) -> str:
    """Format a locale's services as a short bulleted list in ``lang``.

    Args:
        resources: The services.
        lang: ``en`` or ``zh``.

    Returns:
        One ``- name: contact (hours)`` line per service; a generic emergency line if there are none.
    """
    w = _wording(lang)
    if not resources.resources:
        return w.no_resources
    colon = "：" if lang == "zh" else ": "
    lines = []
    for r in resources.resources:
        name, contact, hours = r.text_in(lang)
        contact = (
            w.call.format(contact=contact) if r.kind == "phone" and re.fullmatch(r"[\d\s()+-]+", contact) else contact
        )
        hours = w.hours.format(hours=hours) if hours else ""
        lines.append(f"- {name}{colon}{contact}{hours}")
    return "\n".join(lines)


def append_resources(reply: str, resources: LocaleResources, *, lang: str) -> str:
    """``reply``, then an invitation to talk to someone and the services listed in ``lang``."""
    return f"{reply.rstrip()}\n\n{_wording(lang).resources_intro}\n{format_resources(resources, lang=lang)}"


def _fill(template: str, *, resources: str, topic: str) -> str:
    # Plain replacement: templates are prose and may hold other braces.
    text = template.replace("{topic}", topic)
    return re.sub(r"[ \t]*\{resources\}[ \t]*", lambda _m: f"\n{resources}\n", text).strip()


class SnippetComposer:
    """Composes safe, kind, useful replies from reviewed data.

    Args:
        taxonomy: For category names and parents.
        directory: Crisis services; ``None`` loads the shipped ones.
        templates: Reply templates; ``None`` loads the shipped ones.

    Raises:
        ConfigError: If shipped data is needed and cannot be loaded.
    """

    def __init__(
        self, taxonomy: Taxonomy, *, directory: CrisisDirectory | None = None, templates: Templates | None = None
    ) -> None:
        self.taxonomy = taxonomy
        self.directory = directory or load_crisis_directory()
        self.templates = templates or load_templates()

    def resources(self, *, lang: str, locale: str | None = None) -> LocaleResources:
        """The crisis services for a locale (see :meth:`CrisisDirectory.resolve`)."""
        return self.directory.resolve(locale, lang)

    def resources_text(self, *, lang: str, locale: str | None = None) -> str:
        """The formatted crisis services for a locale."""
        return format_resources(self.resources(lang=lang, locale=locale), lang=lang)

    def with_resources(self, reply: str, *, lang: str, locale: str | None = None) -> str:
        """Append the locale's crisis services to a reply that lacks them."""
        return append_resources(reply, self.resources(lang=lang, locale=locale), lang=lang)

    def with_care_note(self, reply: str, *, lang: str) -> str:
        """Append a short, general note on accuracy to a careful answer that lacks one."""
        return f"{reply.rstrip()}\n\n{_wording(lang).care_note}"

    def _template(self, category: str, lang: str, strategy: str) -> str | None:
        chain = [category, *self.taxonomy.ancestors(category)] if category in self.taxonomy else []
        # The reader's language matters more than the category's specificity: a general template in their language
        # beats a specific one they cannot read.
        for language in dict.fromkeys((lang, "en")):
            for cid in (*chain, "default"):
                text = self.templates.by_category.get(cid, {}).get(language, {}).get(strategy)
                if text:
                    return text
        return None

    def compose(
        self, strategy: Strategy, *, category: str, lang: str, locale: str | None = None, variant: int = 0
    ) -> str:
        """Compose a fallback reply.

        ``support`` uses a support template with the locale's crisis services; ``refuse_with_help`` and
        ``safe_alternative`` use the category's template (else its parent's, else the default); the complying
        strategies, which have no template, get an honest apology asking the user to try again.

        Args:
            strategy: The chosen strategy.
            category: The hazard category id (``none`` or an unknown id uses the default template).
            lang: ``en`` or ``zh``.
            locale: Region for crisis services.
            variant: Which support template to use (taken modulo their number).

        Returns:
            The reply; never empty.
        """
        w = _wording(lang)
        resources = self.resources_text(lang=lang, locale=locale)
        topic = topic_name(self.taxonomy, category, lang) or w.this_topic
        if strategy == "support":
            options = self.templates.support.get(lang) or self.templates.support.get("en") or ()
            if not options:
                return self.with_resources(w.unavailable, lang=lang, locale=locale)
            text = options[variant % len(options)]
            filled = _fill(text, resources=resources, topic=topic)
            return filled if "{resources}" in text else self.with_resources(filled, lang=lang, locale=locale)
        if strategy in _TEMPLATE_STRATEGIES:
            template = self._template(category, lang, strategy)
            if template:
                return _fill(template, resources=resources, topic=topic)
        return w.unavailable


def compose_fallback(
    strategy: Strategy,
    category: str,
    *,
    lang: str,
    locale: str | None = None,
    taxonomy: Taxonomy | None = None,
) -> str:
    """Compose a curated fallback reply from the shipped data (see :meth:`SnippetComposer.compose`).

    Args:
        strategy: The chosen strategy.
        category: The hazard category id.
        lang: ``en`` or ``zh``.
        locale: Region for crisis services.
        taxonomy: The taxonomy; ``None`` loads the shipped one.

    Raises:
        ConfigError: If the shipped data cannot be loaded.
    """
    composer = SnippetComposer(taxonomy or load_taxonomy())
    return composer.compose(strategy, category=category, lang=lang, locale=locale)
