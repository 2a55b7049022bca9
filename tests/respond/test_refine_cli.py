"""`nacre refine` end to end: the three output files, bad lines, one-line errors, and resuming."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nacre.cli import _common
from nacre.cli._app import app
from nacre.conversation import Conversation
from nacre.models import Capabilities, Completion, GenerationConfig, StreamChunk
from tests.conftest import free_port

ITEMS = ("tone", "willingness", "completion", "logic", "informativeness")
QUERIES = [
    {"query": "How do I keep my bike from being stolen?", "category": "none"},
    {"query": "怎样安全地存放家里的清洁剂？", "lang": "zh", "category": "hazardous_materials", "strategy": "comply"},
    {"query": "How does a pin tumbler lock work?", "category": "none", "strategy": "safe_alternative"},
]


def nacre(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NACRE_API_KEY": "unused"}
    return subprocess.run([sys.executable, "-m", "nacre", *args], capture_output=True, text=True, env=env, timeout=120)


def write_input(path: Path, extra_lines: list[str] | None = None) -> Path:
    lines = [json.dumps(q, ensure_ascii=False) for q in QUERIES] + (extra_lines or [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class ScriptedLLM:
    """One fake model for every role, answering by the JSON schema asked for.

    The generator's reply is good only when the chain asks it to "name lock types"; the user judge likes good
    replies; the safety judge finds everything safe; the updater always proposes adding "name lock types".
    """

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.generated: list[str] = []

    @property
    def model_id(self) -> str:
        return "fake/scripted"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(json_schema=True, seed=True)

    @property
    def cache_identity(self) -> str:
        return self.model_id

    def _reply(self, conversation: Conversation, config: GenerationConfig) -> str:
        system = conversation.messages[0].text if conversation.messages[0].role == "system" else ""
        user = conversation.messages[-1].text
        if config.json_schema is None:
            query = conversation.last_user.text if conversation.last_user else ""
            if self.fail_on is not None and query == self.fail_on:
                raise RuntimeError("simulated crash")
            self.generated.append(query)
            return "GOOD: a specific, friendly answer." if "name lock types" in system else "BAD: vague."
        if config.schema_name == "nacre_satisfaction":
            score = 1 if "GOOD" in user else -1
            return json.dumps({"user_profile": "u", "task": "t", **{n: {"score": score, "fix": ""} for n in ITEMS}})
        if config.schema_name == "nacre_safety":
            return json.dumps({"verdict": "safe", "user_type": "benign", "reason": "general"})
        return json.dumps(
            {
                "feedback": "Be specific.",
                "safety_strategies": [],
                "usefulness_strategies": ["name lock types"],
                "guidelines": [],
                "risk_intent": "",
                "needs": "",
                "propagation": {"strategies": "added specifics", "guidelines": "", "risk_intent": "", "needs": ""},
            }
        )

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        return Completion(text=self._reply(conversation, config or GenerationConfig()), model_id=self.model_id)

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        completion = await self.generate(conversation, config=config)
        yield StreamChunk(delta="", completion=completion)

    async def aclose(self) -> None:
        pass


def use_fake(monkeypatch: pytest.MonkeyPatch, fake: ScriptedLLM) -> list[str]:
    opened: list[str] = []

    def fake_open(spec: str, **_: object) -> tuple[ScriptedLLM, None]:
        opened.append(spec)
        return fake, None

    monkeypatch.setattr(_common, "open_model", fake_open)
    return opened


def test_refine_with_mock_json_writes_three_files_and_reports_bad_lines(tmp_path: Path) -> None:
    src = write_input(tmp_path / "in.jsonl", ["not json", json.dumps({"query": "x", "category": "bogus"})])
    out = tmp_path / "run"
    result = nacre("refine", "--in", str(src), "--out", f"{out}/", "--model", "mock/json", "--no-cache")
    assert result.returncode == 0, result.stderr
    assert "line 4: skipped: not JSON" in result.stderr
    assert "line 5: skipped: unknown risk category 'bogus'" in result.stderr
    history = read_rows(out / "history.jsonl")
    assert {row["line"] for row in history} == {1, 2, 3}
    assert all(row["index"] == 0 or row["outcome"] == "unchanged" for row in history)
    sft = read_rows(out / "sft.jsonl")  # mock/json finds every reply safe
    assert [row["query"] for row in sft] == [q["query"] for q in QUERIES]
    assert (out / "orpo.jsonl").read_text() == ""
    assert not list(out.glob("*.partial")) and not list(out.glob("*.progress"))


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"query": "caf\xe9"}\n')
    result = nacre("refine", "--in", str(src), "--out", str(tmp_path / "x"), "--model", "mock/json", "--no-cache")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not UTF-8" in lines[0]
    assert not list(tmp_path.glob("x.*"))


def test_path_errors_name_the_commands_own_options(tmp_path: Path) -> None:
    src = write_input(tmp_path / "in.jsonl")
    (tmp_path / "out" / "sft.jsonl").mkdir(parents=True)
    result = nacre("refine", "--in", str(src), "--out", f"{tmp_path / 'out'}/", "-m", "mock/json", "--no-cache")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --out ") and "sft.jsonl is a directory" in result.stderr
    assert "--output" not in result.stderr


def test_an_infinite_beta_is_one_clear_line(tmp_path: Path) -> None:
    src = write_input(tmp_path / "in.jsonl")
    result = nacre("refine", "--in", str(src), "--out", str(tmp_path / "x"), "--beta", "inf", "-m", "mock/json")
    assert result.returncode == 1
    assert result.stderr.startswith("error: beta must be a finite number")
    assert not list(tmp_path.glob("x.*"))


def test_refine_improves_exports_pairs_and_resumes_after_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_input(tmp_path / "in.jsonl")
    prefix = tmp_path / "exp1"
    args = ["refine", "--in", str(src), "--out", str(prefix), "--model", "fake/gen", "--evaluator", "fake/judge"]
    runner = CliRunner()

    crashing = ScriptedLLM(fail_on=str(QUERIES[1]["query"]))
    opened = use_fake(monkeypatch, crashing)
    first = runner.invoke(app, [*args, "--no-cache"])
    assert isinstance(first.exception, RuntimeError)
    assert opened == ["fake/gen", "fake/judge"]  # the updater defaults to the evaluator
    assert not (tmp_path / "exp1.history.jsonl").exists()
    assert (tmp_path / "exp1.history.jsonl.partial").exists()

    working = ScriptedLLM()
    use_fake(monkeypatch, working)
    second = runner.invoke(app, [*args, "--no-cache"])
    assert second.exit_code == 0, second.output
    assert "resuming: 1 of 3 lines were already done" in second.output
    assert QUERIES[0]["query"] not in working.generated  # line 1 was not redone

    history = read_rows(tmp_path / "exp1.history.jsonl")
    assert sorted({int(str(row["line"])) for row in history}) == [1, 2, 3]
    assert len([row for row in history if row["index"] == 0]) == 3
    for row in history:
        if row["best"]:
            assert row["response"] == "GOOD: a specific, friendly answer."
    sft = read_rows(tmp_path / "exp1.sft.jsonl")
    assert [row["query"] for row in sft] == [q["query"] for q in QUERIES]
    assert all("name lock types" in str(row["reasoning"]) for row in sft)
    assert sft[1]["lang"] == "zh" and sft[1]["category"] == "hazardous_materials"
    orpo = read_rows(tmp_path / "exp1.orpo.jsonl")
    assert len(orpo) == 3
    for pair in orpo:
        assert pair["chosen"].startswith("GOOD") and pair["rejected"].startswith("BAD")  # type: ignore[union-attr]
        assert pair["margin"] == pytest.approx(2.0) and pair["rejected_from"] == "initial"

    again = runner.invoke(app, [*args, "--no-cache", "--margin", "2.5", "--restart"])
    assert again.exit_code == 0, again.output
    assert read_rows(tmp_path / "exp1.orpo.jsonl") == []


# The command's helpers ---------------------------------------------------------------------------------------------


def test_out_is_a_folder_or_a_prefix(tmp_path: Path) -> None:
    from nacre.cli._refine import output_paths

    assert output_paths(f"{tmp_path}/new/")["sft"] == tmp_path / "new" / "sft.jsonl"
    assert output_paths(str(tmp_path))["orpo"] == tmp_path / "orpo.jsonl"
    assert output_paths(str(tmp_path / "exp1"))["history"] == tmp_path / "exp1.history.jsonl"


def test_input_lines_get_defaults_and_clear_errors() -> None:
    from nacre.cli._refine import parse_job
    from nacre.errors import ConfigError
    from nacre.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    job = parse_job(7, {"query": "怎样锁好自行车？"}, taxonomy)
    assert (job.line, job.lang, job.category, job.strategy) == (7, "zh", None, "comply_with_care")
    assert parse_job(1, {"query": "q", "category": "none"}, taxonomy).category == "none"
    assert parse_job(1, {"query": "q", "lang": "en", "category": "weapons"}, taxonomy).category == "weapons"
    for bad, needle in [
        ({"prompt": "q"}, "'query'"),
        ({"query": "q", "lang": "fr"}, "'lang'"),
        ({"query": "q", "category": 3}, "'category'"),
        ({"query": "q", "strategy": "ignore"}, "'strategy'"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            parse_job(1, bad, taxonomy)


def test_initial_chain_uses_build_chain_with_an_assessment_and_falls_back_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    import nacre.respond
    from nacre.assess import RiskAssessment
    from nacre.cli._refine import Job, assessed_category, initial_chain
    from nacre.respond import SafetyChain
    from nacre.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    job = Job(line=1, query="q", lang="en", category="weapons", strategy="refuse_with_help")
    assessment = RiskAssessment(
        scope="conversation",
        harmful=False,
        harm_probability=0.1,
        category="cybercrime",
        categories={"cybercrime": 0.9},
        severity=2,
        user_type={"benign": 0.9, "vulnerable": 0.05, "malicious": 0.05},
        interaction="inquiry",
    )
    seen: list[str] = []

    def fake_build(a: RiskAssessment, strategy: str, tax: object, *, lang: str) -> SafetyChain:
        seen.append(f"{a.category}/{strategy}/{lang}")
        return SafetyChain(needs="built")

    monkeypatch.setattr(nacre.respond, "build_chain", fake_build)
    assert initial_chain(job, "weapons", assessment, taxonomy).needs == "built"
    assert seen == ["weapons/refuse_with_help/en"]  # the line's category overrides the assessor's
    fallback = initial_chain(job, "weapons", None, taxonomy)
    assert fallback.guidelines == taxonomy["weapons"].guidelines and len(seen) == 1
    assert initial_chain(job, "none", None, taxonomy).risk_intent == ""

    assert assessed_category(None, "comply") == "none"
    assert assessed_category(assessment, "comply") == "none"  # not harmful and a complying strategy
    assert assessed_category(assessment, "support") == "cybercrime"
    assert assessed_category(dataclasses.replace(assessment, harmful=True), "comply") == "cybercrime"
    assert assessed_category(dataclasses.replace(assessment, severity=0, harmful=True), "support") == "none"


def test_the_assessor_shares_the_similarity_embedder() -> None:
    from rich.console import Console

    from nacre.assess import default_embedder
    from nacre.cli._refine import _Assessments

    embedder = default_embedder()
    assessments = _Assessments(Console(), embedder)
    assert assessments("how do I bake bread") is not None
    assert assessments._assessor is not None and assessments._assessor.classifier.embedder is embedder


def test_evaluators_that_never_answer_in_json_are_an_error_not_a_success(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    result = nacre("refine", "--in", str(src), "--out", str(tmp_path / "x/"), "--model", "mock/helpful", "--no-cache")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"the evaluators failed on {len(QUERIES)} of {len(QUERIES)} queries" in errors[0]
    assert "no JSON object" in errors[0] and "Traceback" not in result.stderr
    assert f"refined 0 of {len(QUERIES)} queries" in result.stderr


def test_a_generator_that_cannot_be_reached_is_named_as_the_one_that_failed(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = ("--model", "openai/x", "--base-url", url, "--max-retries", "0", "--evaluator", "mock/json", "--no-cache")
    result = nacre("refine", "--in", str(src), "--out", str(tmp_path / "x/"), *args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert "the generator (openai/x) failed" in errors[0] and "--base-url" in errors[0]
