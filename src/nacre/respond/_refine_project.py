"""The minimal-edit projection: keep a proposed strategy list within an edit budget of the current one."""

from __future__ import annotations

import re
from collections.abc import Sequence

from nacre.respond._refine_similarity import Similarity, simhash_similarity

_TRIVIAL_CHARS = 3
_WORD = re.compile(r"\w+")


def clean_items(items: Sequence[str]) -> tuple[str, ...]:
    """Strip items, drop empty ones and repeats, keep the first occurrence's order."""
    out: list[str] = []
    for item in items:
        text = item.strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def _as_current(proposed: Sequence[str], current: Sequence[str]) -> tuple[str, ...]:
    # A model that copies an item back re-cased or with a full stop ("Be friendly.") means the same item: counted
    # as new, it would push the lists over the budget and the projection would drop the items it meant to keep.
    by_key = {key: c for c in reversed(current) if (key := " ".join(_WORD.findall(c.lower())))}
    return clean_items([by_key.get(" ".join(_WORD.findall(p.lower())), p) for p in proposed])


def _most_novel(candidates: Sequence[str], reference: Sequence[str], similarity: Similarity) -> str:
    # Lowest mean similarity to the current list = the item that adds the most; ties keep proposal order.
    def mean_sim(p: str) -> float:
        return sum(similarity(p, c) for c in reference) / len(reference) if reference else 0.0

    return min(candidates, key=mean_sim)


def project_minimal(
    current: Sequence[str],
    proposed: Sequence[str],
    *,
    budget: int = 2,
    similarity: Similarity = simhash_similarity,
) -> tuple[str, ...]:
    """Project a proposed ordered strategy list onto a small edit of the current one.

    A proposed item that differs from a current one only in case, spacing or punctuation counts as that item.
    The rule, in order:

    1. A trivially short proposal (under 3 characters in all) keeps ``current``.
    2. If the two lists differ by at most ``budget`` items (symmetric difference), the proposal is taken as is,
       in its own order.
    3. If they share items, the shared items are kept (in current order) and the proposed item least similar on
       average to the current list (the most novel) is appended.
    4. If they share nothing, the proposed item most similar to some current item replaces that item in place
       (an update), and the most novel of the remaining proposed items is appended (an addition). An empty
       ``current`` takes the first ``budget`` proposed items.

    Args:
        current: The current ordered list.
        proposed: The list the update model proposed.
        budget: Edit budget K: how many items may differ for the proposal to pass unchanged.
        similarity: Similarity of two items in [0, 1]; SimHash by default.

    Returns:
        The projected list, without empty items or repeats.
    """
    cur = clean_items(current)
    prop = _as_current(clean_items(proposed), cur)
    if sum(len(p) for p in prop) < _TRIVIAL_CHARS:
        return cur
    if len(set(cur) ^ set(prop)) <= budget:
        return prop
    if not cur:
        return prop[:budget]
    common = [c for c in cur if c in prop]
    if common:
        novel = [p for p in prop if p not in common]
        return (*common, _most_novel(novel, cur, similarity)) if novel else tuple(common)
    pairs = [(p, c) for p in prop for c in cur]
    best_p, best_c = max(pairs, key=lambda pc: similarity(pc[0], pc[1]))
    out = [best_p if c == best_c else c for c in cur]
    rest = [p for p in prop if p != best_p]
    if rest:
        out.append(_most_novel(rest, cur, similarity))
    return tuple(out)
