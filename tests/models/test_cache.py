from __future__ import annotations

from pathlib import Path

from nacre.conversation import Conversation
from nacre.models import CachedChatModel, GenerationConfig, MockChatModel, cache_key
from nacre.store import Store


async def test_repeat_requests_are_served_from_the_store(tmp_path: Path) -> None:
    inner = MockChatModel("counter", replies=["first", "second", "third"])
    with Store(tmp_path / "s.db") as store:
        model = CachedChatModel(inner, store)
        conv = Conversation.from_text("hi")
        a = await model.generate(conv)
        b = await model.generate(conv)
        assert (a.text, a.cached) == ("first", False)
        assert (b.text, b.cached) == ("first", True)
        assert len(inner.calls) == 1
        # A different prompt, parameter or seed is a different key.
        await model.generate(conv, config=GenerationConfig(max_tokens=7))
        await model.generate(conv, config=GenerationConfig(seed=1))
        await model.generate(Conversation.from_text("hi!"))
        assert len(inner.calls) == 4
        assert store.cache_size() == 4
    # The cache survives the process: a new store on the same file answers without calling the model.
    with Store(tmp_path / "s.db") as store:
        fresh = MockChatModel("counter", replies=["other"])
        assert (await CachedChatModel(fresh, store).generate(conv)).text == "first"
        assert fresh.calls == []


async def test_sampled_requests_without_seed_are_not_cached(tmp_path: Path) -> None:
    inner = MockChatModel("r", replies=["a", "b"])
    with Store(tmp_path / "s.db") as store:
        model = CachedChatModel(inner, store)
        config = GenerationConfig(temperature=0.8, seed=None)
        texts = [(await model.generate(Conversation.from_text("x"), config=config)).text for _ in range(2)]
        assert texts == ["a", "b"]
        assert store.cache_size() == 0


async def test_stream_is_cached_and_replayed(tmp_path: Path) -> None:
    inner = MockChatModel("s", replies=["streamed words here"])
    with Store(tmp_path / "s.db") as store:
        model = CachedChatModel(inner, store)
        conv = Conversation.from_text("go")
        first = [c async for c in model.stream(conv)]
        second = [c async for c in model.stream(conv)]
        assert "".join(c.delta for c in first) == "".join(c.delta for c in second) == "streamed words here"
        assert second[-1].completion is not None and second[-1].completion.cached
        assert len(inner.calls) == 1


def test_key_depends_on_model_identity() -> None:
    conv = Conversation.from_text("x")
    a = cache_key(MockChatModel("a"), conv, GenerationConfig())
    b = cache_key(MockChatModel("b"), conv, GenerationConfig())
    assert a != b and len(a) == 64
