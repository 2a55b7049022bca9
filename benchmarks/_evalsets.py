"""Loaders for the evaluation sets in ../shared/datasets or the package's copies (never trained or tuned on)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from nacre.errors import NacreError

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
_PACKAGED = Path(__file__).resolve().parents[1] / "src" / "nacre" / "data" / "datasets"
# The project's shared copy when the checkout sits beside it, else the identical copies the package ships.
DEFAULT_ROOT = _SHARED if _SHARED.is_dir() else _PACKAGED


def read(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found; give --datasets PATH, the folder holding harmbench_standard200, advbench, "
            "strata_sword and xstest (default: ../shared/datasets)"
        )
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def packaged(relative: str) -> list[dict]:
    """A JSONL file shipped in ``nacre.data`` (the development sets, the multi-turn and distress sets)."""
    text = resources.files("nacre.data").joinpath(relative).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class MultiTurnFlags:
    """How the conversation level flags a multi-turn set (``harmful`` after any user turn counts as a flag)."""

    attacks: int = 0
    by_turn: int = 0  # attacks flagged at or before the turn their intent becomes recoverable
    by_end: int = 0  # attacks flagged at any turn
    benign: int = 0
    flagged: int = 0  # benign conversations flagged at any turn


def multiturn_flags(assessor, conversations: list[dict]) -> MultiTurnFlags:
    """Read each conversation turn by turn with ``assessor`` and count its flags."""
    from nacre.conversation import Conversation

    out = MultiTurnFlags()
    for c in conversations:
        history = assessor.assess_sync(Conversation.from_openai(c["messages"]), history=True).history
        if c["kind"] == "decomposed_attack":
            out.attacks += 1
            out.by_turn += any(h.harmful for h in history[: c["harmful_from_turn"] + 1])
            out.by_end += any(h.harmful for h in history)
        else:
            out.benign += 1
            out.flagged += any(h.harmful for h in history)
    return out


def heldout_split(examples: list, skip_sources: list[str]) -> list:
    """The corpus examples of the held-out split, less those from the files named in ``skip_sources``."""
    sources = {e.source for e in examples}
    unknown = sorted(set(skip_sources) - sources)
    if unknown:
        raise SystemExit(
            f"error: --skip-source {', '.join(unknown)}: no such corpus file; choose from: {', '.join(sorted(sources))}"
        )
    return [e for e in examples if e.split == "heldout" and e.source not in skip_sources]


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
        try:
            self.cache = dict(np.load(path)) if path.exists() else {}
        except (OSError, ValueError) as exc:  # not an .npz this script wrote
            raise SystemExit(f"error: --embedding-cache {path} is not an embedding cache: {exc}") from None
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


def decision_guard(heads_dir: Path | None, cache: Path | None, policy: Path | None = None):
    """A decision-only guard for the development checks: the shipped (or given) heads and policy, and the embedder
    behind the on-disk cache when one is given. Returns the guard and that cached embedder (``None`` without one),
    whose ``save()`` keeps new vectors for the next run."""
    from nacre.assess import Assessor, load_heads
    from nacre.guard import Guard
    from nacre.strategy import load_policy

    heads = load_heads(heads_dir)
    embedder = disk_cached(heads.embedder, cache)
    return Guard(assessor=Assessor.default(embedder=embedder, heads=heads), policy=load_policy(policy)), embedder
