"""Loaders for the evaluation sets in ../shared/datasets (never used for training or tuning)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from nacre.errors import NacreError

DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def read(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found; give --datasets PATH, the folder holding harmbench_standard200, advbench, "
            "strata_sword and xstest (default: ../shared/datasets)"
        )
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(main: Callable[[], None]) -> None:
    """Run a script's ``main``, turning nacre's own errors (a bad --heads folder, ...) into one line."""
    try:
        main()
    except NacreError as exc:
        raise SystemExit(f"error: {exc}") from None


def harmful_requests(root: Path) -> dict[str, list[str]]:
    return {
        "HarmBench (200)": [r["goal"] for r in read(root / "harmbench_standard200" / "behaviors.jsonl")],
        "AdvBench (520)": [r["goal"] for r in read(root / "advbench" / "harmful_behaviors.jsonl")],
    }


def strata_sword(root: Path) -> list[dict]:
    rows: list[dict] = []
    for lang in ("en", "cn"):
        for level in (1, 2, 3):
            rows.extend(read(root / "strata_sword" / f"strata_sword_{lang}_level_{level}.jsonl"))
    return rows


def xstest(root: Path) -> list[dict]:
    return read(root / "xstest" / "prompts.jsonl")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval for a proportion."""
    if n == 0:
        return (0.0, 0.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, n: int) -> str:
    lo, hi = wilson(successes, n)
    return f"{100 * successes / max(n, 1):5.1f} %  [{100 * lo:5.1f}, {100 * hi:5.1f}]  ({successes}/{n})"


class DiskCachedEmbedder:
    """Wraps an embedder with an on-disk cache (benchmark reruns after retraining the heads skip embedding)."""

    def __init__(self, inner, path: Path) -> None:
        import numpy as np

        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.path = path
        self._np = np
        self.cache = dict(np.load(path)) if path.exists() else {}
        self.added = 0

    def embed(self, texts):
        import hashlib

        # the embedder's name is part of the key: one cache file may serve several embedders
        keys = [hashlib.sha1(f"{self.name}\0{t}".encode()).hexdigest() for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if missing:
            vectors = self.inner.embed([texts[i] for i in missing])
            for i, v in zip(missing, vectors, strict=True):
                self.cache[keys[i]] = v
            self.added += len(missing)
        return self._np.stack([self.cache[k] for k in keys]) if keys else self.inner.embed([])

    def save(self) -> None:
        if self.added:
            self._np.savez(self.path, **self.cache)


def disk_cached(embedder_name: str, path: Path | None) -> DiskCachedEmbedder | None:
    """The embedder of that name behind the on-disk cache at ``path``; ``None`` without a path (use the default)."""
    if path is None:
        return None
    from nacre.assess import embedder_named

    return DiskCachedEmbedder(embedder_named(embedder_name), path)
