"""Settings of the proxy server, validated once at start-up."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from nacre.errors import ConfigError

AuditContent = Literal["none", "hash", "full"]
AUDIT_CONTENTS: tuple[AuditContent, ...] = ("none", "hash", "full")

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only.

    Args:
        host: A host name or IP address as given to ``--host``.

    Returns:
        True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for anything else, including
        ``0.0.0.0`` and host names that might resolve to a public interface.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"upstream URL {url!r} must look like http://host:port/v1")
    if parts.username or parts.password:
        # Credentials in the URL would end up in logs and /healthz; the key has its own variable.
        raise ValueError("put the upstream key in NACRE_UPSTREAM_API_KEY, not in the URL")
    return url.rstrip("/")


class ServeConfig(BaseModel):
    """Settings of ``nacre serve``.

    Attributes:
        upstream_url: OpenAI-compatible endpoint root of the model server, e.g. ``http://127.0.0.1:11434/v1``.
        upstream_model: The model name the upstream serves (or the embedded model's name).
        upstream_api_key: Key nacre sends upstream; never logged or echoed.
        embedded: Serve the in-process embedded model instead of an upstream server.
        served_model_name: The name nacre lists for the guarded model; default ``nacre/<upstream_model>``.
        host: Address to bind; anything but loopback requires API keys.
        port: Port to bind.
        api_key_hashes: SHA-256 hex digests of the accepted client keys (raw keys are never kept).
        rate_limit_per_minute: Requests per minute per key (``None``: unlimited).
        rate_limit_burst: Requests a key may make at once; default a sixth of the per-minute rate (at least 1).
        max_body_bytes: Largest request body accepted (413 above).
        max_messages: Most messages in one request (400 above).
        upstream_timeout_s: Seconds to wait for the upstream (per read while streaming); 504 after.
        upstream_connect_timeout_s: Seconds to wait for a connection to the upstream.
        upstream_max_connections: Size of the upstream connection pool.
        decision_headers: Add ``X-Nacre-*`` headers with the decision.
        decision_field: Add the ``nacre`` field with the decision to response bodies.
        audit_db: SQLite file of the audit log; ``None`` keeps no log.
        audit_content: How message content is kept in the audit log: not at all, as a SHA-256, or in full.
        cors_origins: Origins allowed by CORS; empty (the default) sends no CORS headers at all.
        locale: Region for crisis resources, e.g. ``US``, ``GB``; ``None`` picks one from the language.
        assess_system: Also assess the text of ``system`` and ``developer`` messages, as if the user had sent it.
            Off by default: they are the operator's instructions. Turn it on where clients are not trusted with
            them (anyone holding a key can write every role).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    upstream_url: str | None = None
    upstream_model: str | None = None
    upstream_api_key: SecretStr | None = None
    embedded: bool = False
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key_hashes: tuple[str, ...] = ()
    rate_limit_per_minute: float | None = Field(None, gt=0)
    rate_limit_burst: int | None = Field(None, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_messages: int = Field(256, ge=1)
    upstream_timeout_s: float = Field(120.0, gt=0)
    upstream_connect_timeout_s: float = Field(10.0, gt=0)
    upstream_max_connections: int = Field(256, ge=1)
    decision_headers: bool = True
    decision_field: bool = True
    audit_db: Path | None = None
    audit_content: AuditContent = "hash"
    cors_origins: tuple[str, ...] = ()
    locale: str | None = None
    assess_system: bool = False

    @field_validator("upstream_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_url(value) if value is not None else None

    @field_validator("api_key_hashes")
    @classmethod
    def _hashes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for digest in value:
            if not _SHA256_HEX.match(digest):
                raise ValueError("API key hashes must be SHA-256 digests as 64 lowercase hex characters")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServeConfig:
        if self.embedded and self.upstream_url is not None:
            raise ValueError("give either an upstream URL or embedded, not both")
        if self.upstream_url is not None and not self.upstream_model:
            raise ValueError("an upstream URL needs the upstream model name (--upstream-model)")
        if not is_loopback(self.host) and not self.api_key_hashes:
            raise ValueError(
                f"refusing to listen on {self.host} without API keys: set NACRE_API_KEYS or --api-keys-file, "
                "or bind to 127.0.0.1"
            )
        return self

    @classmethod
    def build(cls, **values: Any) -> ServeConfig:
        """Validate settings, turning validation errors into one actionable :class:`ConfigError`.

        Args:
            **values: Field values.

        Returns:
            The settings.

        Raises:
            ConfigError: If a value is missing, malformed or inconsistent with another.
        """
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{where}: {message}" if where else message)
            raise ConfigError("invalid serve settings: " + "; ".join(problems)) from None

    @property
    def auth_required(self) -> bool:
        """Whether clients must present an API key."""
        return bool(self.api_key_hashes)

    @property
    def burst(self) -> int:
        """The token-bucket capacity per key."""
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, round((self.rate_limit_per_minute or 0) / 6))
