from __future__ import annotations

import json
from pathlib import Path

import pytest

from nacre.batch import ResumableWriter, check_paths, finished_message, input_fingerprint, read_jsonl
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


def test_two_runs_on_one_output_are_kept_apart(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = ResumableWriter(out, fingerprint={"job": 1})
    with pytest.raises(ConfigError, match="another nacre run is writing"):
        ResumableWriter(out, fingerprint={"job": 1})
    first.write({"i": 1})
    first.commit(1)
    first.close()  # an interrupted run lets go of the output
    again = ResumableWriter(out, fingerprint={"job": 1})
    assert again.resumed
    again.finish()
    assert out.read_text() == '{"i": 1}\n' and not (tmp_path / "out.jsonl.lock").exists()


def test_an_edited_input_of_the_same_size_is_another_job(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "Question 5"}\n', encoding="utf-8")
    before = input_fingerprint(source)
    source.write_text('{"prompt": "Kuestion 5"}\n', encoding="utf-8")
    assert input_fingerprint(source) != before and source.stat().st_size == len('{"prompt": "Question 5"}\n')


def test_an_unpaired_surrogate_is_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"prompt": "\\ud800 x"}\n{"prompt": "fine"}\n', encoding="utf-8")
    records = list(read_jsonl(path))
    assert records[0].data is None and records[0].error is not None and "surrogate" in records[0].error
    assert records[1].data == {"prompt": "fine"}


def test_a_pipe_or_the_outputs_own_working_file_is_refused_as_input(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with pytest.raises(ConfigError, match="not a regular file"):
        check_paths(Path("/dev/null"), out)
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text('{"prompt": "a"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="working file"):
        check_paths(partial, out)
    assert partial.read_text(encoding="utf-8") == '{"prompt": "a"}\n'


def test_a_run_where_no_line_could_be_used_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="none of the input's lines could be used"):
        finished_message(0, tmp_path / "out.jsonl", 2)
    assert (
        finished_message(1, tmp_path / "o.jsonl", 1) == f"wrote 1 result to {tmp_path / 'o.jsonl'}; skipped 1 bad line"
    )
