"""The n-gram features: the counting shortcut must match a plain left-to-right scan exactly, order included."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nacre.assess._lexical import gram_counts, sparse_row


def scanned(text: str) -> Counter[str]:
    """Every gram in the order a left-to-right reading meets it, counted."""
    lowered = text.lower()
    words = re.findall(r"[a-z0-9']+", lowered)
    out = [f"w:{w}" for w in words]
    out += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    for word in words:
        padded = f"<{word}>"
        for n in (3, 4, 5):
            out += [f"c:{padded[i : i + n]}" for i in range(max(1, len(padded) - n + 1))]
    for run in re.findall(r"[\u3400-\u9fff]+", lowered):
        for n in (1, 2, 3):
            out += [f"z:{run[i : i + n]}" for i in range(len(run) - n + 1)]
    return Counter(out)


words = st.sampled_from(["kill", "the", "process", "Python", "a", "x", "it's", "炸弹", "怎么", "做", "42", "kill"])


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=40), st.sampled_from([" ", "", "\n", ", "]))
def test_gram_counts_match_a_plain_scan_in_order(parts: list[str], sep: str) -> None:
    text = sep.join(parts)
    fast, slow = gram_counts(text), scanned(text)
    assert fast == slow
    assert list(fast) == list(slow)


def test_sparse_rows_are_unit_length_and_repeat_aware() -> None:
    indices, values = sparse_row("kill the process, kill the process")
    assert len(indices) == len(values) > 0
    assert abs(float(np.linalg.norm(values)) - 1.0) < 1e-6
    assert values.max() > values.min()  # repeated grams weigh more (sublinear, but more)
    empty = sparse_row("   ")
    assert len(empty[0]) == 0
