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


def read_json_file(path: Path | Readable, what: str) -> Any:
    """Parse a JSON file.

    Args:
        path: A filesystem path or a package resource.
        what: What the file is, for the error message (e.g. ``"JSON schema"``).

    Raises:
        ConfigError: If the file cannot be read or is not JSON.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # a byte-order mark is not an error
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
