"""The assessor's least-recently-used map."""

from __future__ import annotations

from nacre.assess._lru import LRUCache


def test_get_or_compute_computes_each_missing_key_once_and_keeps_order() -> None:
    cache: LRUCache[str, int] = LRUCache(10)
    calls: list[list[str]] = []

    def length(keys: list[str]) -> list[int]:
        calls.append(keys)
        return [len(k) for k in keys]

    assert cache.get_or_compute(["aa", "b", "aa", "ccc"], length) == [2, 1, 2, 3]
    assert calls == [["aa", "b", "ccc"]]
    assert cache.get_or_compute(["ccc", "dddd", "b"], length) == [3, 4, 1]
    assert calls[-1] == ["dddd"]


def test_a_batch_larger_than_the_cache_is_still_answered_whole() -> None:
    cache: LRUCache[int, int] = LRUCache(2)
    assert cache.get_or_compute([1, 2, 3, 4, 1], lambda keys: [k * 10 for k in keys]) == [10, 20, 30, 40, 10]
    assert 4 in cache and 3 in cache and 1 not in cache
    empty: LRUCache[int, int] = LRUCache(0)
    assert empty.get_or_compute([5, 5], lambda keys: [k + 1 for k in keys]) == [6, 6]
    assert 5 not in empty
