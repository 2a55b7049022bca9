"""Resumable JSONL batch jobs: read records, write results in order, survive a crash.

Results go to ``<output>.partial`` with a small progress file beside it; only a finished run is renamed to
``<output>``, so a reader never sees half a result file. Rerunning the same command after a crash continues
where the last completed batch ended.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from nacre.conversation import canonical_json
from nacre.errors import ConfigError

try:  # POSIX; elsewhere two runs on one output are not kept apart
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


# The working files beside an output: results so far, how far the input is done, the lock of the run writing it.
PARTIAL, PROGRESS, LOCK = ".partial", ".progress", ".lock"


@dataclass(frozen=True, slots=True)
class Record:
    """One input line.

    Attributes:
        line: 1-based line number in the input file.
        data: The parsed JSON object, or ``None`` if the line is bad.
        error: Why the line is bad, if it is.
    """

    line: int
    data: dict[str, Any] | None
    error: str | None = None


def read_jsonl(path: Path, *, skip: int = 0) -> Iterator[Record]:
    """Yield the records of a JSONL file; blank lines are ignored, bad lines come back with an error.

    Args:
        path: The input file.
        skip: Number of leading lines already processed (resume).

    Raises:
        ConfigError: If the file cannot be opened.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no <= skip:
                continue
            try:
                # utf-8-sig: editors on Windows often start a file with a byte-order mark.
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield Record(line_no, None, f"not UTF-8 text (near byte {exc.start} of the line)")
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield Record(line_no, None, f"not JSON ({exc})")
                continue
            if not isinstance(data, dict):
                yield Record(line_no, None, "not a JSON object")
                continue
            try:
                # JSON's \ud800-style escapes can spell half a character, which no text encoding can write out.
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                yield Record(line_no, None, "holds an unpaired surrogate escape (e.g. \\ud800), which is not text")
                continue
            yield Record(line_no, data)


def check_paths(input: Path, output: Path, *, input_option: str = "--input", output_option: str = "--output") -> None:
    """Refuse an output that would destroy the input or cannot hold a result file, before any work is done.

    Args:
        input: The input file.
        output: The result file.
        input_option: The command's option that names the input, for messages.
        output_option: The command's option that names the output, for messages.

    Raises:
        ConfigError: If the output is the input, a directory, ``-``, or an existing file that is not a regular
            file (a device or a pipe).
    """
    if input.exists() and not input.is_file():
        raise ConfigError(
            f"{input_option} {input} is not a regular file (a pipe or a device is read more than once here); save it "
            "to a file first"
        )
    if str(output) == "-":
        raise ConfigError(f"{output_option} needs a file name (results are written to a file, not to standard output)")
    own = {output.with_name(output.name + suffix) for suffix in (PARTIAL, PROGRESS, LOCK)}
    if input.exists() and any(p.exists() and os.path.samefile(input, p) for p in own):
        raise ConfigError(
            f"{input_option} {input} is a working file of {output_option} {output}; give the original input"
        )
    if output.is_dir():
        raise ConfigError(f"{output_option} {output} is a directory; give a file name inside it")
    if output.exists() and not output.is_file():
        raise ConfigError(f"{output_option} {output} is not a regular file")
    if output.exists() and input.exists() and os.path.samefile(input, output):
        raise ConfigError(f"{output_option} {output} is the input file; write the results somewhere else")


def input_fingerprint(path: Path) -> dict[str, str]:
    """What identifies an input file for resuming: its path and a SHA-256 of its content.

    An edit that keeps the size must not resume onto stale results.
    """
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return {"input": str(path.resolve()), "sha256": digest.hexdigest()}


def count_lines(path: Path) -> int:
    """Number of lines in a file (for progress bars)."""
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


class ResumableWriter:
    """Appends result lines to ``<output>.partial`` and records progress after each flush.

    Args:
        output: The final output path.
        resume: Continue a previous partial run instead of starting over.
        fingerprint: Identifies the job (input path, options).

    Raises:
        ConfigError: If an unfinished run of another job (other input or options) waits in ``<output>.partial``
            and ``resume`` is on: its results are not thrown away without ``--restart``.
    """

    def __init__(self, output: Path, *, resume: bool = True, fingerprint: Mapping[str, Any] | None = None) -> None:
        self.output = output
        self.partial = output.with_name(output.name + PARTIAL)
        self.progress_path = output.with_name(output.name + PROGRESS)
        self.fingerprint = canonical_json(dict(fingerprint or {}))
        self.lines_done = 0
        self.written = 0
        self.lock_path = output.with_name(output.name + LOCK)
        self._lock = self._acquire_lock()
        try:
            self._open(resume)
        except BaseException:
            self._lock.close()
            raise
        self._pending: list[bytes] = []

    def _open(self, resume: bool) -> None:
        state = self._load_state() if resume else None
        if state is not None:
            self.lines_done = int(state["lines_done"])
            self.written = int(state["written"])
            with self.partial.open("r+b") as fh:
                fh.truncate(int(state["bytes"]))  # drop anything written after the last recorded flush
        else:
            try:
                self.partial.write_bytes(b"")
            except OSError as exc:
                raise ConfigError(f"cannot write {self.partial}: {exc.strerror}") from None
            self._save_state()
        self._fh = self.partial.open("ab")

    def _acquire_lock(self) -> Any:
        # Held until close: a second run on the same output would interleave its lines with this one's.
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            handle = self.lock_path.open("a")
        except OSError as exc:
            raise ConfigError(f"cannot write {self.lock_path}: {exc.strerror}") from None
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise ConfigError(
                    f"another nacre run is writing {self.output} right now; wait for it, or give another --output"
                ) from None
        return handle

    @property
    def resumed(self) -> bool:
        """Whether this run continues an earlier one."""
        return self.lines_done > 0

    def _load_state(self) -> dict[str, Any] | None:
        if not (self.partial.exists() and self.progress_path.exists()):
            return None
        try:
            state = json.loads(self.progress_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if self.partial.stat().st_size < int(state.get("bytes", 0)):
            return None  # the partial file lost data the progress file counts: nothing to trust
        if state.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"{self.partial} holds {state.get('written', 0)} results of an unfinished run with another input or "
                "other options; rerun that command to finish it, or add --restart to discard it and start over"
            )
        return dict(state)

    def _save_state(self) -> None:
        size = self.partial.stat().st_size if self.partial.exists() else 0
        tmp = self.progress_path.with_name(self.progress_path.name + ".tmp")
        tmp.write_text(
            json.dumps(
                {"fingerprint": self.fingerprint, "lines_done": self.lines_done, "written": self.written, "bytes": size}
            ),
            encoding="utf-8",
        )
        os.replace(tmp, self.progress_path)

    def write(self, result: Mapping[str, Any]) -> None:
        """Queue one result line (written at the next :meth:`commit`)."""
        self._pending.append((json.dumps(result, ensure_ascii=False) + "\n").encode("utf-8"))

    def commit(self, lines_done: int) -> None:
        """Write queued results and record that input lines up to ``lines_done`` are finished."""
        for chunk in self._pending:
            self._fh.write(chunk)
        self.written += len(self._pending)
        self._pending.clear()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.lines_done = lines_done
        self._save_state()

    def finish(self) -> None:
        """Rename the partial file to the output and remove the progress file."""
        self._fh.close()
        os.replace(self.partial, self.output)
        self.progress_path.unlink(missing_ok=True)
        self.lock_path.unlink(missing_ok=True)
        self._lock.close()

    def close(self) -> None:
        """Close without finishing (the partial run stays resumable)."""
        if not self._fh.closed:
            self._fh.close()
        if not self._lock.closed:
            self._lock.close()

    def __enter__(self) -> ResumableWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def finished_message(written: int, output: Path, bad: int) -> str:
    """The closing line of a batch run (plain text: print it without markup).

    Raises:
        ConfigError: If no line could be used at all: the run produced nothing, which is a mistake to report.
    """
    skipped = f"; skipped {bad} bad line{'' if bad == 1 else 's'}" if bad else ""
    if written == 0 and bad:
        raise ConfigError(
            f"none of the input's lines could be used ({bad} bad line{'' if bad == 1 else 's'}, reported above), "
            f"so {output} is empty"
        )
    return f"wrote {written} result{'' if written == 1 else 's'} to {output}{skipped}"
