"""SimHash similarity and the minimal-edit projection of strategy lists."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from nacre.respond.refine import EmbeddingSimilarity, project_minimal, simhash, simhash_similarity


def table_similarity(pairs: Mapping[frozenset[str], float], default: float = 0.5):
    """A similarity read from a table of unordered pairs (identical items score 1)."""

    def sim(a: str, b: str) -> float:
        return 1.0 if a == b else pairs.get(frozenset((a, b)), default)

    return sim


# SimHash ------------------------------------------------------------------------------------------------------


@given(st.text())
def test_identical_text_has_similarity_one(text: str) -> None:
    assert simhash_similarity(text, text) == 1.0


@given(st.text(), st.text())
def test_similarity_is_in_unit_interval_and_symmetric(a: str, b: str) -> None:
    value = simhash_similarity(a, b)
    assert 0.0 <= value <= 1.0
    assert value == simhash_similarity(b, a)


@given(st.text())
def test_fingerprint_is_64_bits(text: str) -> None:
    assert 0 <= simhash(text) < 2**64


def test_case_spaces_and_punctuation_do_not_matter() -> None:
    assert simhash("Offer safe alternatives!") == simhash("offer   safe-alternatives")
    assert simhash("") == 0 == simhash("!!! ...")


def test_near_duplicates_are_closer_than_unrelated_phrases() -> None:
    base = "point to licensed shooting clubs and safety courses"
    near = "point to licensed shooting clubs and safety classes"
    far = "be warm and concise"
    assert simhash_similarity(base, near) > simhash_similarity(base, far)


def test_chinese_text_is_fingerprinted() -> None:
    assert simhash("提供合法、安全的资源") != 0
    assert simhash_similarity("提供合法、安全的资源", "提供合法安全的资源") == 1.0


def test_embedding_similarity_is_cosine_mapped_and_cached() -> None:
    vectors = {"a": (1.0, 0.0), "b": (0.0, 1.0), "c": (-1.0, 0.0), "z": (0.0, 0.0)}
    calls: list[str] = []

    def embed(texts):
        calls.extend(texts)
        return [vectors[t] for t in texts]

    sim = EmbeddingSimilarity(embed)
    assert sim("a", "a") == 1.0
    assert sim("a", "b") == 0.5
    assert sim("a", "c") == 0.0
    assert sim("a", "z") == 0.5
    assert calls.count("a") == 1


# Projection (the rule of the corrected pseudo-code, on ordered lists) ----------------------------------------------


def test_small_edit_is_accepted_as_proposed_in_proposed_order() -> None:
    current = ["state the law", "explain the risk", "offer help"]
    assert project_minimal(current, ["state the law", "explain the risk", "be kind"], budget=2) == (
        "state the law",
        "explain the risk",
        "be kind",
    )
    assert project_minimal(current, ["offer help", "state the law", "explain the risk"], budget=2) == (
        "offer help",
        "state the law",
        "explain the risk",
    )
    assert project_minimal(current, ["explain the risk"], budget=2) == ("explain the risk",)


def test_items_copied_back_with_other_case_or_punctuation_count_as_kept() -> None:
    current = ["give concrete steps", "be friendly", "stay calm"]
    proposed = ["Give concrete steps.", "Be friendly", "stay calm", "name lock types"]
    assert project_minimal(current, proposed, budget=2) == (
        "give concrete steps",
        "be friendly",
        "stay calm",
        "name lock types",
    )


def test_overlap_keeps_common_items_in_current_order_plus_the_most_novel() -> None:
    sim = table_similarity(
        {
            frozenset(("x", "c")): 0.9,
            frozenset(("x", "d")): 0.9,
            frozenset(("y", "c")): 0.6,
            frozenset(("y", "d")): 0.6,
            frozenset(("z", "c")): 0.1,
            frozenset(("z", "d")): 0.1,
        }
    )
    current = ["b", "a", "c", "d"]
    proposed = ["a", "b", "x", "y", "z"]
    assert project_minimal(current, proposed, budget=2, similarity=sim) == ("b", "a", "z")


def test_overlap_with_only_deletions_keeps_the_common_items() -> None:
    current = ["state the law", "explain the risk", "offer help", "be kind"]
    assert project_minimal(current, ["offer help"], budget=2) == ("offer help",)


def test_disjoint_lists_get_one_substitution_and_one_addition() -> None:
    sim = table_similarity(
        {
            frozenset(("x", "b")): 0.95,  # x is the closest rewrite of b
            frozenset(("y", "a")): 0.7,
            frozenset(("y", "b")): 0.7,
            frozenset(("z", "a")): 0.2,  # z is the most novel of the rest
            frozenset(("z", "b")): 0.2,
        }
    )
    assert project_minimal(["a", "b"], ["x", "y", "z"], budget=2, similarity=sim) == ("a", "x", "z")


def test_disjoint_single_proposal_is_only_a_substitution() -> None:
    sim = table_similarity({frozenset(("xyz", "c")): 0.9})
    assert project_minimal(["a", "b", "c"], ["xyz"], budget=0, similarity=sim) == ("a", "b", "xyz")


def test_empty_or_trivial_proposal_keeps_current() -> None:
    current = ("decline briefly", "offer a safe alternative")
    assert project_minimal(current, []) == current
    assert project_minimal(current, ["", "  "]) == current
    assert project_minimal(current, ["ok"]) == current


def test_empty_current_takes_at_most_the_budget() -> None:
    assert project_minimal([], ["state the law", "be kind", "offer help"], budget=2) == ("state the law", "be kind")


def test_default_similarity_swaps_in_the_closest_rewrite() -> None:
    current = ["decline clearly without lecturing", "point to licensed shooting clubs and safety courses"]
    proposed = ["point to licensed shooting clubs and safety classes", "mention local laws", "stay friendly"]
    out = project_minimal(current, proposed, budget=2)
    assert out[:2] == ("decline clearly without lecturing", "point to licensed shooting clubs and safety classes")
    assert len(out) == 3 and out[2] in proposed[1:]


@given(
    st.lists(st.sampled_from(["a1", "b2", "c3", "d4", "e5", "f6"]), max_size=6),
    st.lists(st.sampled_from(["a1", "b2", "c3", "x7", "y8", "z9"]), max_size=6),
    st.integers(min_value=0, max_value=3),
)
def test_projection_returns_known_items_without_repeats(current: list[str], proposed: list[str], budget: int) -> None:
    out = project_minimal(current, proposed, budget=budget)
    assert len(out) == len(set(out))
    assert set(out) <= set(current) | set(proposed)
    if not proposed:
        assert out == tuple(dict.fromkeys(current))
