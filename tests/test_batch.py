from __future__ import annotations

import json
from pathlib import Path

import pytest

from nacre.batch import ResumableWriter, check_paths, read_jsonl
from nacre.errors import ConfigError


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


def test_an_unfinished_run_of_another_job_is_kept_until_restart_is_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = ResumableWriter(out, fingerprint={"job": 1})
    first.write({"i": 1})
    first.commit(1)
    first.close()
    with pytest.raises(ConfigError, match="--restart"):
        ResumableWriter(out, fingerprint={"job": 2})
    assert (tmp_path / "out.jsonl.partial").read_text() == '{"i": 1}\n'
    other = ResumableWriter(out, resume=False, fingerprint={"job": 2})
    assert not other.resumed
    other.finish()
    assert out.read_text() == ""


def test_reader_accepts_a_byte_order_mark_and_skips_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a"}\n{"prompt": "caf\xe9"}\n{"prompt": "c"}\n')
    records = list(read_jsonl(path))
    assert [r.line for r in records] == [1, 2, 3]
    assert records[0].data == {"prompt": "a"} and records[2].data == {"prompt": "c"}
    assert records[1].data is None and records[1].error is not None and "UTF-8" in records[1].error


@pytest.mark.parametrize("name", ["-", "folder", "in.jsonl"])
def test_an_output_that_cannot_hold_results_is_refused_before_any_work(tmp_path: Path, name: str) -> None:
    (tmp_path / "folder").mkdir()
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "a"}\n', encoding="utf-8")
    output = Path(name) if name == "-" else tmp_path / name
    with pytest.raises(ConfigError, match="--output"):
        check_paths(source, output)
    assert source.read_text(encoding="utf-8") == '{"prompt": "a"}\n'
    check_paths(source, tmp_path / "out.jsonl")  # a new file is fine
