from __future__ import annotations

import json
from pathlib import Path

from nacre.batch import ResumableWriter, read_jsonl


def test_reader_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"a": 1}\n\nnot json\n[1, 2]\n{"b": 2}\n')
    records = list(read_jsonl(path))
    assert [(r.line, r.data is not None) for r in records] == [(1, True), (3, False), (4, False), (5, True)]
    assert "not JSON" in (records[1].error or "") and "not a JSON object" in (records[2].error or "")
    assert [r.line for r in read_jsonl(path, skip=3)] == [4, 5]


def test_writer_publishes_only_finished_runs_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    writer = ResumableWriter(out, fingerprint={"job": 1})
    writer.write({"i": 1})
    writer.write({"i": 2})
    writer.commit(2)
    writer.write({"i": 3})  # queued but never committed: lost with the "crash"
    writer.close()
    assert not out.exists()

    again = ResumableWriter(out, fingerprint={"job": 1})
    assert again.resumed and again.lines_done == 2 and again.written == 2
    again.write({"i": 3})
    again.commit(3)
    again.finish()
    assert [json.loads(line)["i"] for line in out.read_text().splitlines()] == [1, 2, 3]
    assert not (tmp_path / "out.jsonl.partial").exists() and not (tmp_path / "out.jsonl.progress").exists()


def test_writer_starts_over_for_a_different_job(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = ResumableWriter(out, fingerprint={"job": 1})
    first.write({"i": 1})
    first.commit(1)
    first.close()
    other = ResumableWriter(out, fingerprint={"job": 2})
    assert not other.resumed
    other.finish()
    assert out.read_text() == ""
