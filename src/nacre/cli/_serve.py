"""``nacre serve``: the guard as an OpenAI-compatible proxy in front of a model server."""

from __future__ import annotations

import importlib.util
import os
import socket
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nacre.cli import _common
from nacre.errors import ConfigError, MissingExtraError
from nacre.store import default_path

UPSTREAM_KEY_ENV = "NACRE_UPSTREAM_API_KEY"


class AuditContentChoice(StrEnum):
    """How the audit log keeps message content."""

    none = "none"
    hash = "hash"
    full = "full"


EPILOG = (
    "Examples:\n\n"
    "  nacre serve --upstream http://127.0.0.1:11434/v1 --upstream-model llama3.2   (Ollama)\n\n"
    "  nacre serve --upstream http://127.0.0.1:8001/v1 --upstream-model Qwen/Qwen2.5-7B-Instruct   (vLLM)\n\n"
    "  NACRE_API_KEYS=... nacre serve --upstream http://127.0.0.1:8080/v1 --upstream-model local "
    "--host 0.0.0.0 --rate-limit 60\n\n"
    "  nacre serve --embedded\n\n"
    f"The upstream's own key, if it needs one, is read from {UPSTREAM_KEY_ENV}. Client keys come from "
    "NACRE_API_KEYS (comma-separated) or --api-keys-file (one per line; sha256:<hex> lines hold hashed keys); "
    "they are required whenever --host is not a loopback address."
)


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # uvicorn sets SO_REUSEADDR too, so a port in TIME_WAIT is not reported as busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port or --host"
            ) from None


def serve(
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream", envvar="NACRE_UPSTREAM", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1."
        ),
    ] = None,
    upstream_model: Annotated[
        str | None,
        typer.Option(
            "--upstream-model",
            envvar="NACRE_UPSTREAM_MODEL",
            help="Model name the upstream serves (or embedded model).",
        ),
    ] = None,
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Serve the in-process embedded model (SmolLM2) instead of an upstream.")
    ] = False,
    host: Annotated[str, typer.Option("--host", envvar="NACRE_HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="NACRE_PORT", min=1, max=65535, help="Port to bind.")] = 8000,
    served_model_name: Annotated[
        str | None, typer.Option("--served-model-name", help="Name clients use (default nacre/<upstream-model>).")
    ] = None,
    api_keys_file: Annotated[
        Path | None,
        typer.Option(
            "--api-keys-file", envvar="NACRE_API_KEYS_FILE", dir_okay=False, help="Client keys, one per line."
        ),
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option("--rate-limit", envvar="NACRE_RATE_LIMIT", min=0.001, help="Requests per minute per key."),
    ] = None,
    burst: Annotated[int | None, typer.Option("--burst", min=1, help="Requests a key may make at once.")] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1024, help="Largest request body accepted (413 above).")
    ] = 1_048_576,
    max_messages: Annotated[int, typer.Option("--max-messages", min=1, help="Most messages per request.")] = 256,
    timeout: Annotated[
        float, typer.Option("--timeout", envvar="NACRE_TIMEOUT", min=0.1, help="Seconds to wait for the upstream.")
    ] = 120.0,
    audit_db: Annotated[
        Path | None,
        typer.Option("--audit-db", envvar="NACRE_AUDIT_DB", dir_okay=False, help="Audit log file (SQLite)."),
    ] = None,
    audit_content: Annotated[
        AuditContentChoice, typer.Option("--audit-content", help="Message content in the audit log.")
    ] = AuditContentChoice.hash,
    no_audit: Annotated[bool, typer.Option("--no-audit", help="Keep no audit log.")] = False,
    no_decision_headers: Annotated[
        bool, typer.Option("--no-decision-headers", help="Do not send the X-Nacre-* headers.")
    ] = False,
    no_decision_field: Annotated[
        bool, typer.Option("--no-decision-field", help="Do not add the 'nacre' field to responses.")
    ] = False,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="Allow this browser origin (repeatable; default none).")
    ] = None,
    locale: Annotated[
        str | None, typer.Option("--locale", envvar="NACRE_LOCALE", help="Region for crisis resources, e.g. US, GB.")
    ] = None,
    assess_system: Annotated[
        bool,
        typer.Option(
            "--assess-system",
            envvar="NACRE_ASSESS_SYSTEM",
            help="Also assess system and developer messages, as if the user had written them. By default they are "
            "the operator's and are not assessed; turn this on when clients you do not trust send requests.",
        ),
    ] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request line.")] = False,
) -> None:
    """Serve the guard as an OpenAI-compatible proxy: point your clients at it instead of the model server.

    Routes: POST /v1/chat/completions (plain and streamed), POST /v1/nacre/assess (check only), GET /v1/models,
    GET /healthz, GET /metrics. Benign requests pass through unchanged; the rest are answered under the guard's
    strategy, checked and repaired. The decision comes back in a 'nacre' field and X-Nacre-* headers.
    """
    from nacre.serve._auth import load_api_keys

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        raise MissingExtraError("nacre serve needs the serve extra: pip install 'nacre[serve]'")
    if not embedded and upstream is None:
        raise ConfigError("give --upstream URL --upstream-model NAME, or --embedded")
    from nacre.serve import ServeConfig, create_app

    upstream_key = os.environ.get(UPSTREAM_KEY_ENV) or None
    config = ServeConfig.build(
        upstream_url=upstream,
        upstream_model=upstream_model,
        upstream_api_key=upstream_key,
        embedded=embedded,
        served_model_name=served_model_name,
        host=host,
        port=port,
        api_key_hashes=load_api_keys(api_keys_file),
        rate_limit_per_minute=rate_limit,
        rate_limit_burst=burst,
        max_body_bytes=max_body_bytes,
        max_messages=max_messages,
        upstream_timeout_s=timeout,
        decision_headers=not no_decision_headers,
        decision_field=not no_decision_field,
        audit_db=None if no_audit else (audit_db or default_path().parent / "audit.db"),
        audit_content=audit_content.value,
        cors_origins=tuple(cors_origin or ()),
        locale=locale,
        assess_system=assess_system,
    )
    _check_port(config.host, config.port)
    _common.warn_unknown_locale(locale)
    import uvicorn

    console = Console(stderr=True, highlight=False)
    console.print("loading the guard...")
    app = create_app(config, freeze_gc=True)
    proxy = app.state.proxy
    where = f"http://{config.host}:{config.port}/v1"
    console.print(
        f"nacre serve: {escape(where)} (model {escape(proxy.served_name)}) -> {escape(proxy.upstream.description)}",
        soft_wrap=True,
    )
    audit = f"{config.audit_db} (content: {config.audit_content})" if config.audit_db else "off"
    keys = f"{len(config.api_key_hashes)} API key(s)" if config.api_key_hashes else "no API keys (loopback only)"
    console.print(f"audit log: {escape(audit)}; {keys}", soft_wrap=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=access_log)
