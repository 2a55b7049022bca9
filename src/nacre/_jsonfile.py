"""Reading a JSON file a user (or the package) supplies, with one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from nacre.errors import ConfigError


class Readable(Protocol):
    """A path or a package resource."""

    def read_text(self, encoding: str = ...) -> str:
        """Return the file's text."""
        ...


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r} in one object (JSON keeps only the last)")
        seen[key] = value
    return seen


def read_json_file(path: Path | Readable, what: str, *, unique_keys: bool = False) -> Any:
    """Parse a JSON file.

    Args:
        path: A filesystem path or a package resource.
        what: What the file is, for the error message (e.g. ``"JSON schema"``).
        unique_keys: Reject an object that repeats a key; JSON parsers otherwise keep the last value silently.

    Raises:
        ConfigError: If the file cannot be read or is not JSON (or, with ``unique_keys``, repeats a key).
    """
    hook = _unique_object if unique_keys else None
    try:
        # A byte-order mark is not an error.
        return json.loads(path.read_text(encoding="utf-8-sig"), object_pairs_hook=hook)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
