"""Finding the JSON value in a model's free-text answer (prose around it, code fences, several objects)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer: the whole text, else the last fenced block, else the last object.

    Raises:
        ValueError: If no JSON value can be found.
    """
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for block in reversed(_FENCE.findall(stripped)):
        try:
            return json.loads(block)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    found: Any = None
    position = stripped.find("{")
    while position != -1:
        try:
            found, end = decoder.raw_decode(stripped, position)
        except ValueError:
            position = stripped.find("{", position + 1)
            continue
        position = stripped.find("{", end)
    if found is None:
        raise ValueError(f"no JSON object in the answer: {stripped[:120]!r}")
    return found
