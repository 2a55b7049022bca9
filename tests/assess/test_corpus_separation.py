"""The assessor's training corpus shares no wording with the sets its quality is measured on.

Similarity is the Jaccard index of character 5-gram sets (lower-cased, whitespace collapsed), the measure the
distress set's datasheet uses. The public sets are allowed form-level resemblance (a benign corpus request may open
like a benchmark's harmful one, "Give step-by-step instructions for making ... at home", on purpose), so their bar
is near-copies; the project's own distress set promises more (its datasheet: no corpus line above 0.25).
"""

from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

from nacre.assess import load_corpus
from nacre.datasets import load_items
from nacre.taxonomy import load_taxonomy

scipy_sparse = pytest.importorskip("scipy.sparse")


def _grams(text: str) -> set[str]:
    t = re.sub(r"\s+", " ", text.lower()).strip()
    return {t[i : i + 5] for i in range(max(1, len(t) - 4))}


def _matrix(texts: list[str], vocab: dict[str, int]) -> tuple[list[int], list[int]]:
    """The (row, column) of every 1 in a matrix with one row per text and one column per 5-gram (via ``vocab``)."""
    rows: list[int] = []
    cols: list[int] = []
    for i, text in enumerate(texts):
        for g in _grams(text):
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    return rows, cols


def max_similarity(evaluation: list[str], corpus: list[str]) -> tuple[float, str, str]:
    """The highest Jaccard similarity between any evaluation text and any corpus text, and that pair."""
    vocab: dict[str, int] = {}
    c_rows, c_cols = _matrix(corpus, vocab)
    e_rows, e_cols = _matrix(evaluation, vocab)
    a = scipy_sparse.csr_matrix((np.ones(len(c_rows)), (c_rows, c_cols)), shape=(len(corpus), len(vocab)))
    b = scipy_sparse.csr_matrix((np.ones(len(e_rows)), (e_rows, e_cols)), shape=(len(evaluation), len(vocab)))
    inter = (b @ a.T).toarray()
    sizes_a = np.asarray(a.sum(axis=1)).ravel()
    sizes_b = np.asarray(b.sum(axis=1)).ravel()
    jaccard = inter / (sizes_b[:, None] + sizes_a[None, :] - inter)
    i, j = np.unravel_index(int(jaccard.argmax()), jaccard.shape)
    return float(jaccard[i, j]), evaluation[i], corpus[j]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [e.text for e in load_corpus(load_taxonomy().classifier_labels)]


def _jsonl(*parts: str) -> list[dict[str, object]]:
    text = resources.files("nacre.data").joinpath(*parts).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_max_similarity_finds_a_near_copy() -> None:
    corpus = ["Tips for repotting a cactus?", "how do i  BAKE sourdough bread at home?"]
    score, _, match = max_similarity(["How do I bake sourdough bread at home?"], corpus)
    assert score == 1.0 and match == corpus[1]  # case and spacing do not hide a copy
    assert max_similarity(["How do I bake sourdough bread at home?"], corpus[:1])[0] < 0.1


def test_distress_set_keeps_its_distance(corpus: list[str]) -> None:
    texts = [str(r["text"]) for r in _jsonl("evalsets", "distress.jsonl")]
    score, item, line = max_similarity(texts, corpus)
    assert score < 0.25, f"corpus line {line!r} is too close to distress item {item!r} ({score:.2f})"


def test_multiturn_set_keeps_its_distance(corpus: list[str]) -> None:
    texts = [
        str(m["content"])
        for r in _jsonl("multiturn", "conversations.jsonl")
        for m in r["messages"]  # type: ignore[attr-defined]
        if m["role"] == "user"
    ]
    score, item, line = max_similarity(texts, corpus)
    assert score < 0.5, f"corpus line {line!r} is too close to multi-turn turn {item!r} ({score:.2f})"


@pytest.mark.parametrize("name", ["strata-sword", "xstest", "harmbench", "advbench"])
def test_public_sets_are_not_copied(corpus: list[str], name: str) -> None:
    texts = [turn for item in load_items(name) for turn in item.turns]
    score, item, line = max_similarity(texts, corpus)
    assert score < 0.6, f"corpus line {line!r} nearly copies {name} prompt {item!r} ({score:.2f})"


@pytest.fixture(scope="module")
def selection() -> list[dict[str, object]]:
    return _jsonl("devsets", "selection.jsonl")


def test_selection_set_is_balanced_and_well_formed(selection: list[dict[str, object]]) -> None:
    assert len({r["id"] for r in selection}) == len(selection) == 600
    assert len({str(r["text"]).lower() for r in selection}) == len(selection)
    labels = load_taxonomy().classifier_labels
    for lang in ("en", "zh"):
        rows = [r for r in selection if r["lang"] == lang]
        assert sum(r["harmful"] is True for r in rows) == sum(r["harmful"] is False for r in rows) == 150
    for r in selection:
        assert (r["kind"] == "harmful_request") is r["harmful"]
        assert r["category"] in labels


def test_selection_set_keeps_its_distance_from_the_corpus(
    corpus: list[str], selection: list[dict[str, object]]
) -> None:
    score, item, line = max_similarity([str(r["text"]) for r in selection], corpus)
    assert score < 0.45, f"corpus line {line!r} is too close to selection item {item!r} ({score:.2f})"


def _user_turns(*parts: str) -> list[str]:
    return [
        str(m["content"])
        for r in _jsonl(*parts)
        for m in r["messages"]  # type: ignore[attr-defined]
        if m["role"] == "user"
    ]


@pytest.mark.parametrize(
    ("name", "count", "attack"),
    [("multiturn_dev.jsonl", 82, "decomposed_attack"), ("multiturn_longrange.jsonl", 48, "longrange_attack")],
)
def test_multiturn_dev_sets_are_well_formed(name: str, count: int, attack: str) -> None:
    rows = _jsonl("devsets", name)
    assert len({r["id"] for r in rows}) == len(rows) == count
    labels = {*load_taxonomy().classifier_labels, "none"}
    for r in rows:
        messages: list[dict[str, str]] = r["messages"]  # type: ignore[assignment]
        turns = len(messages) // 2
        assert [m["role"] for m in messages] == ["user", "assistant"] * turns, r["id"]
        assert r["category"] in labels
        if r["kind"] == attack:
            reveal = int(r["harmful_from_turn"])  # type: ignore[call-overload]
            # A long-range attack comes back to its goal at least 4 user turns after revealing it.
            payoff = int(r.get("payoff_turn", reveal))  # type: ignore[call-overload]
            assert 0 <= reveal < turns and (attack == "decomposed_attack" or reveal + 4 <= payoff < turns), r["id"]
        else:
            assert r["kind"] == "benign" and "payoff_turn" not in r and "harmful_from_turn" not in r


@pytest.mark.parametrize("name", ["multiturn_dev.jsonl", "multiturn_longrange.jsonl"])
def test_multiturn_dev_sets_keep_their_distance_from_the_evaluation_set(corpus: list[str], name: str) -> None:
    dev = _user_turns("devsets", name)
    score, item, turn = max_similarity(dev, _user_turns("multiturn", "conversations.jsonl"))
    assert score < 0.5, f"development turn {item!r} is too close to evaluation turn {turn!r} ({score:.2f})"
    score, item, line = max_similarity(dev, corpus)
    assert score < 0.5, f"corpus line {line!r} is too close to development turn {item!r} ({score:.2f})"


@pytest.mark.parametrize("name", ["strata-sword", "xstest", "harmbench", "advbench"])
def test_selection_set_copies_no_public_set(selection: list[dict[str, object]], name: str) -> None:
    texts = [turn for item in load_items(name) for turn in item.turns]
    score, item, line = max_similarity(texts, [str(r["text"]) for r in selection])
    assert score < 0.6, f"selection item {line!r} nearly copies {name} prompt {item!r} ({score:.2f})"


def test_distress_dev_set_is_well_formed_and_keeps_its_distance(corpus: list[str]) -> None:
    rows = _jsonl("devsets", "distress_dev.jsonl")
    assert len({r["id"] for r in rows}) == len({r["text"] for r in rows}) == len(rows) == 250
    assert sum(r["label"] == "distressed" for r in rows) == 150
    assert {r["label"] for r in rows} == {"distressed", "not_distressed"}
    assert {r["explicitness"] for r in rows} == {"explicit", "subtle"}
    texts = [str(r["text"]) for r in rows]
    evaluation = [str(r["text"]) for r in _jsonl("evalsets", "distress.jsonl")]
    score, item, line = max_similarity(texts, evaluation)
    assert score < 0.25, f"distress evaluation item {line!r} is too close to development item {item!r} ({score:.2f})"
    score, item, line = max_similarity(texts, corpus)
    assert score < 0.25, f"corpus line {line!r} is too close to development item {item!r} ({score:.2f})"


def _bare(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def test_short_request_dev_set_is_well_formed_and_copies_no_corpus_line(corpus: list[str]) -> None:
    rows = _jsonl("devsets", "short_dev.jsonl")
    assert len({r["id"] for r in rows}) == len({r["text"] for r in rows}) == len(rows) == 320
    assert all(r["harmful"] == (r["form"] == "harmful") for r in rows)
    assert {r["form"] for r in rows} == {"bare", "topic", "lookalike", "harmful"}
    seen = {_bare(line) for line in corpus}
    copied = [r["text"] for r in rows if _bare(str(r["text"])) in seen]
    assert not copied, f"short development requests copied from the corpus: {copied}"
