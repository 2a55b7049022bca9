"""Prometheus metrics in the text exposition format (version 0.0.4), hand-written: counters, one gauge, histograms.

Each app owns one :class:`Metrics`; nothing is registered globally. An ASGI middleware counts every HTTP request by
route and status; the proxy adds decisions, assessment time and upstream errors.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# name -> (type, help). Fixed: a metric outside this table is a programming error.
METRICS: Mapping[str, tuple[Kind, str]] = MappingProxyType(
    {
        "nacre_http_requests_total": ("counter", "HTTP requests by route and status."),
        "nacre_http_request_duration_seconds": ("histogram", "Time to the end of the response, by route."),
        "nacre_http_requests_in_flight": ("gauge", "HTTP requests being served."),
        "nacre_decisions_total": ("counter", "Guard decisions by strategy and whether the reply was guarded."),
        "nacre_assess_duration_seconds": ("histogram", "Time to assess a conversation and decide a strategy."),
        "nacre_guard_errors_total": ("counter", "Assessments that failed (the reply failed closed)."),
        "nacre_replies_total": ("counter", "Chat replies by outcome (passthrough, generated, repaired, fallback)."),
        "nacre_upstream_errors_total": ("counter", "Upstream failures by kind (timeout, unreachable, status, ...)."),
        "nacre_auth_failures_total": ("counter", "Requests refused for a missing or wrong API key."),
        "nacre_rate_limited_total": ("counter", "Requests refused by the per-key rate limit."),
        "nacre_audit_dropped_total": ("counter", "Audit rows dropped because the writer fell behind or failed."),
    }
)

_ROUTES = frozenset({"/v1/chat/completions", "/v1/nacre/assess", "/v1/models", "/healthz", "/metrics", "/openapi.json"})


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = (*labels, extra) if extra is not None else labels
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1
                break


class Metrics:
    """The metrics of one server.

    Args:
        extra_counters: Counters read at render time, e.g. the audit log's dropped rows.
    """

    def __init__(self, extra_counters: Mapping[str, Callable[[], float]] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}
        self._extra = dict(extra_counters or {})

    @staticmethod
    def _key(name: str, labels: Mapping[str, str] | None) -> Labels:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name}")
        return tuple(sorted((labels or {}).items()))

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add ``value`` to a counter or gauge."""
        key = self._key(name, labels)
        with self._lock:
            series = self._values.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Record one observation (seconds) in a histogram."""
        key = self._key(name, labels)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            series.setdefault(key, _Histogram()).observe(value)

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The current value of a counter or gauge (0 if never set); a histogram's observation count."""
        key = self._key(name, labels)
        with self._lock:
            if name in self._histograms:
                hist = self._histograms[name].get(key)
                return float(hist.count) if hist is not None else 0.0
            return self._values.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        """The exposition text."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in METRICS.items():
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                if name in self._extra:
                    lines.append(f"{name} {_number(self._extra[name]())}")
                    continue
                if kind == "histogram":
                    for labels, hist in sorted(self._histograms.get(name, {}).items()):
                        running = 0
                        for bound, count in zip(BUCKETS, hist.counts, strict=True):
                            running += count
                            lines.append(f"{name}_bucket{_labels(labels, ('le', _number(bound)))} {running}")
                        lines.append(f"{name}_bucket{_labels(labels, ('le', '+Inf'))} {hist.count}")
                        lines.append(f"{name}_sum{_labels(labels)} {_number(hist.total)}")
                        lines.append(f"{name}_count{_labels(labels)} {hist.count}")
                    continue
                series = self._values.get(name, {})
                if not series and kind == "gauge":
                    lines.append(f"{name} 0")
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI middleware: counts requests by route and status and times them to the last byte.

    Unknown paths are counted under ``other`` so that scanners cannot blow up the number of series.

    Args:
        app: The wrapped application.
        metrics: Where to count.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, counting it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in _ROUTES else "other"
        status = 500
        start = time.perf_counter()

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.inc("nacre_http_requests_in_flight")
        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.inc("nacre_http_requests_in_flight", value=-1.0)
            self.metrics.inc("nacre_http_requests_total", {"route": route, "status": str(status)})
            self.metrics.observe("nacre_http_request_duration_seconds", time.perf_counter() - start, {"route": route})
