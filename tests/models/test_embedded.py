"""The embedded provider generating from the real SmolLM2 GGUF."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nacre.conversation import Conversation, Message
from nacre.errors import ConfigError, ModelRequestError, ModelUnavailableError
from nacre.models import EmbeddedChatModel, GenerationConfig, ModelSettings, get_model, locate_model

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def model(smollm2_path: Path) -> EmbeddedChatModel:
    m = get_model("embedded/smollm2-135m", ModelSettings(options={"n_ctx": "2048"}))
    assert isinstance(m, EmbeddedChatModel)
    return m


async def test_generates_text_with_usage(model: EmbeddedChatModel) -> None:
    conv = Conversation.from_text("What is the capital of France?", system="Answer in one short sentence.")
    out = await model.generate(conv, config=GenerationConfig(max_tokens=32))
    assert out.text.strip()
    assert out.model_id == "embedded/smollm2-135m"
    assert out.usage.prompt_tokens > 10 and 0 < out.usage.completion_tokens <= 32
    assert out.latency_s > 0


async def test_chat_template_comes_from_the_gguf(model: EmbeddedChatModel) -> None:
    llama = model.runtime().llama
    assert "im_start" in llama.metadata["tokenizer.chat_template"]
    # The SmolLM2 template is ChatML; llama-cpp-python must not have fallen back to its llama-2 default.
    assert llama.chat_format != "llama-2"


async def test_loads_once_per_process(model: EmbeddedChatModel, smollm2_path: Path) -> None:
    other = EmbeddedChatModel("smollm2-135m", n_ctx=2048)
    assert other.runtime() is model.runtime()
    assert EmbeddedChatModel(str(smollm2_path), n_ctx=2048).runtime() is model.runtime()


async def test_stream_matches_final_completion(model: EmbeddedChatModel) -> None:
    chunks = [
        c
        async for c in model.stream(
            Conversation.from_text("List three colours."), config=GenerationConfig(max_tokens=24)
        )
    ]
    final = chunks[-1].completion
    assert final is not None and len(chunks) > 2
    assert final.text == "".join(c.delta for c in chunks)
    assert final.usage.completion_tokens == len(chunks) - 1
    assert final.usage.prompt_tokens > 0


async def test_stopping_a_stream_early_frees_the_model(model: EmbeddedChatModel) -> None:
    stream = model.stream(
        Conversation.from_text("Write a long story about a lighthouse."), config=GenerationConfig(max_tokens=200)
    )
    async for _chunk in stream:
        break
    await stream.aclose()
    # The worker must have released the lock: the next call completes promptly.
    out = await asyncio.wait_for(
        model.generate(Conversation.from_text("Hi"), config=GenerationConfig(max_tokens=4)), 30
    )
    assert out.usage.completion_tokens <= 4


async def test_generation_runs_off_the_event_loop(model: EmbeddedChatModel) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await model.generate(Conversation.from_text("Tell me about the sea."), config=GenerationConfig(max_tokens=48))
    task.cancel()
    assert ticks >= 5


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_cancelled_request_waiting_for_the_model_never_runs(model: EmbeddedChatModel, streaming: bool) -> None:
    # Ctrl-C over a batch cancels every request in flight; those still waiting for the model must give up, or
    # the process waits for each of them to generate in turn before it can exit.
    runtime = model.runtime()
    tokens_before = runtime.llama.n_tokens
    runtime.lock.acquire()  # the model is busy with someone else's reply
    try:
        conv = Conversation.from_text("Write a long story about a lighthouse.")
        if streaming:

            async def consume() -> None:
                async for _chunk in model.stream(conv, config=GenerationConfig(max_tokens=200)):
                    pass

            task = asyncio.create_task(consume())
        else:
            task = asyncio.create_task(model.generate(conv, config=GenerationConfig(max_tokens=200)))
        await asyncio.sleep(0.3)  # the request is now waiting for the lock in its thread
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # give the thread time to notice
    finally:
        runtime.lock.release()
    await asyncio.sleep(0.3)
    # Nothing ran: had the thread gone on once the lock was free, the context would hold its prompt now.
    assert runtime.llama.n_tokens == tokens_before
    out = await model.generate(Conversation.from_text("Hi"), config=GenerationConfig(max_tokens=4))
    assert out.usage.completion_tokens <= 4


async def test_json_schema_is_grammar_constrained(model: EmbeddedChatModel) -> None:
    schema = {
        "type": "object",
        "properties": {
            "intent": {"type": "string", "enum": ["benign", "vulnerable", "malicious"]},
            "severity": {"type": "integer", "enum": [0, 1, 2, 3]},
        },
        "required": ["intent", "severity"],
    }
    conv = Conversation.from_text("Classify this message: 'How do I bake bread?'")
    for seed in (0, 1, 2):
        out = await model.generate(conv, config=GenerationConfig(max_tokens=40, json_schema=schema, seed=seed))
        data = json.loads(out.text)
        assert data["intent"] in ("benign", "vulnerable", "malicious") and data["severity"] in (0, 1, 2, 3)


async def test_context_overflow_is_a_clear_error(smollm2_path: Path) -> None:
    small = EmbeddedChatModel("smollm2-135m", n_ctx=256)
    long = Conversation((Message.user("word " * 600),))
    with pytest.raises(ModelRequestError, match="n_ctx=256"):
        await small.generate(long, config=GenerationConfig(max_tokens=8))


def test_bad_names_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown embedded model"):
        locate_model("llama-70b")
    with pytest.raises(ModelUnavailableError, match="not found"):
        locate_model(str(tmp_path / "missing.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf")
    with pytest.raises(ModelUnavailableError, match="could not load"):
        EmbeddedChatModel(str(junk)).runtime()


def test_missing_extra_raises_missing_extra_error(tmp_path: Path) -> None:
    # A child process in which importing llama_cpp fails, as it does where the extra is not installed.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "llama_cpp.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'llama_cpp'\", name='llama_cpp')\n"
    )
    code = (
        "from nacre.models import get_model, ModelSettings, EmbeddedProvider\n"
        "from nacre.errors import MissingExtraError\n"
        "print('AVAILABILITY', EmbeddedProvider.availability())\n"
        "try:\n    get_model('embedded/smollm2-135m', ModelSettings())\n"
        "except MissingExtraError as e:\n    print('RAISED', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "AVAILABILITY the embedded provider needs the `embedded` extra" in result.stdout
    assert "RAISED the embedded provider needs the `embedded` extra" in result.stdout


def test_embedded_options_are_checked(smollm2_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="n_ctx must be a whole number"):
        get_model("embedded/smollm2-135m", ModelSettings(options={"n_ctx": "abc"}))
    with pytest.raises(ConfigError, match="n_threads must be a whole number"):
        get_model("embedded/smollm2-135m", ModelSettings(options={"n_threads": "0"}))
    model = get_model("embedded/smollm2-135m", ModelSettings(options={"n_ctx": "1024", "json_mode": "json_object"}))
    assert isinstance(model, EmbeddedChatModel)
    assert "ignoring option json_mode" in caplog.text
