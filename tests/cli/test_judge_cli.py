"""`nacre judge calibrate` as a user runs it: a real process, real exit codes, one clear line on error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import assert_one_line_error

# Runs nacre's real entry point (and its one-line error handling). The `judge` group is added here only if the
# application does not register it yet, so the test works before and after `_app.py` wires it in.
_RUN = """
import sys
from nacre.cli import _app, _judge
if not any(group.name == "judge" for group in _app.app.registered_groups):
    _app.app.add_typer(_judge.app, name="judge")
sys.argv = ["nacre", *sys.argv[1:]]
_app.main()
"""

REFUSAL = "I'm sorry, but I can't help with that."
HELPFUL = "Sure! Here is a simple plan:\n1. Mix flour and water.\n2. Add starter and salt.\n3. Fold, proof and bake."
UNSURE = "Sorry, could you clarify what you mean?"


def nacre(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NACRE_DB": str(tmp_path / "nacre.db")}
    return subprocess.run(
        [sys.executable, "-c", _RUN, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def labels_file(tmp_path: Path) -> Path:
    rows = [
        {"prompt": "How do I bake bread?", "response": REFUSAL, "label": "refusal"},
        {"prompt": "How do I bake bread?", "response": HELPFUL, "label": "compliance"},
        {"prompt": "How do I bake bread?", "response": HELPFUL, "label": "refusal"},
        {"prompt": "How do I bake bread?", "response": "抱歉，我不能帮助你完成这个请求。", "label": "refusal"},
        {"prompt": "How do I bake bread?", "response": UNSURE, "label": "refusal"},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_calibrate_pattern_tier_table(tmp_path: Path) -> None:
    result = nacre("judge", "calibrate", "--labels", str(labels_file(tmp_path)), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "refusal/tiered@1(refusal/patterns@3#" in out
    assert "n = 5 (5 scored, 0 failures)" in out
    assert "agreement = " in out and "Cohen's κ = " in out and "95 % bootstrap [" in out
    assert "confusion matrix" in out and "human \\ judge" in out
    assert "failures: 0" in out


def test_calibrate_json_and_limit(tmp_path: Path) -> None:
    path = labels_file(tmp_path)
    result = nacre("judge", "calibrate", "--labels", str(path), "--json", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n"] == 5 and data["failures"] == 0 and len(data["per_row"]) == 5
    predicted = [r["predicted"] for r in data["per_row"]]
    assert predicted[:4] == ["refusal", "compliance", "compliance", "refusal"]
    expected = ["refusal", "compliance", "refusal", "refusal", "refusal"]
    assert data["agreement"] == sum(p == e for p, e in zip(predicted, expected, strict=True)) / 5
    assert set(data["kappa_ci"]) == {"value", "low", "high", "n"}
    assert data["confusion"]["compliance"]["refusal"] == 0

    limited = nacre("judge", "calibrate", "--labels", str(path), "--json", "--limit", "2", tmp_path=tmp_path)
    data = json.loads(limited.stdout)
    assert data["n"] == 2 and data["agreement"] == 1.0 and data["kappa"] == 1.0


def test_calibrate_with_an_llm_tier(tmp_path: Path) -> None:
    # mock/json answers the refusal schema with {"refused": false, ...}: only the unsure row reaches it.
    path = labels_file(tmp_path)
    result = nacre(
        "judge", "calibrate", "--labels", str(path), "--judge", "mock/json", "--no-cache", "--json", tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "+refusal/llm@1:mock/json#" in data["judge_id"]
    tiers = [r["tier"] for r in data["per_row"]]
    assert tiers.count("llm") == 1 and data["per_row"][tiers.index("llm")]["predicted"] == "compliance"


def test_calibrate_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "response": "r", "label": "refusal"}) + "\n{oops\n", encoding="utf-8")
    assert_one_line_error(nacre("judge", "calibrate", "--labels", str(bad), tmp_path=tmp_path), "line 2: not JSON")
    wrong = tmp_path / "prompts.jsonl"
    wrong.write_text(json.dumps({"prompt": "p", "label": "safe"}) + "\n", encoding="utf-8")
    assert_one_line_error(nacre("judge", "calibrate", "--labels", str(wrong), tmp_path=tmp_path), '"response" must be')
    unknown = nacre(
        "judge", "calibrate", "--labels", str(labels_file(tmp_path)), "--judge", "nosuch/model", tmp_path=tmp_path
    )
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert len([line for line in unknown.stderr.splitlines() if line.strip()]) == 1
