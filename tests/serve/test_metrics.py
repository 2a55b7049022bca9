"""Prometheus text exposition."""

from __future__ import annotations

import re

import pytest

from nacre.serve import Metrics

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$')


def test_render_is_valid_exposition_text() -> None:
    metrics = Metrics({"nacre_audit_dropped_total": lambda: 3.0})
    metrics.inc("nacre_http_requests_total", {"route": "/v1/models", "status": "200"})
    metrics.inc("nacre_http_requests_total", {"route": "/v1/models", "status": "200"})
    metrics.inc("nacre_decisions_total", {"strategy": 'we"ird\\\n', "guarded": "true"})
    for value in (0.0005, 0.003, 0.2, 100.0):
        metrics.observe("nacre_assess_duration_seconds", value)
    text = metrics.render()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    assert 'nacre_http_requests_total{route="/v1/models",status="200"} 2' in text
    assert 'strategy="we\\"ird\\\\\\n"' in text
    assert "nacre_audit_dropped_total 3" in text
    assert "nacre_http_requests_in_flight 0" in text
    buckets = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "nacre_assess_duration_seconds_bucket" in line
    ]
    assert buckets == sorted(buckets) and buckets[-1] == 4  # cumulative, +Inf counts all
    assert 'nacre_assess_duration_seconds_bucket{le="0.001"} 1' in text
    assert "nacre_assess_duration_seconds_count 4" in text
    assert metrics.value("nacre_assess_duration_seconds") == 4


def test_unknown_metric_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        Metrics().inc("made_up_total")
