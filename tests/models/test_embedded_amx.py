"""Refusing llama.cpp builds whose AMX kernels crash the process (with a stand-in llama_cpp module)."""

from __future__ import annotations

import types

import pytest

from nacre.errors import ModelUnavailableError
from nacre.models import _embedded


def test_amx_build_reads_the_system_info_line() -> None:
    assert _embedded.amx_build(b"CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 |")
    assert not _embedded.amx_build("CPU : AVX2 = 1 | AVX512 = 1 | LLAMAFILE = 1 |")
    assert not _embedded.amx_build(b"")


def test_an_amx_build_is_refused_before_it_can_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_llama(**kwargs: object) -> object:
        raise AssertionError("the model must not be loaded by an AMX build")

    fake_module = types.SimpleNamespace(
        llama_print_system_info=lambda: b"CPU : AVX2 = 1 | AMX_INT8 = 1 |", Llama=fake_llama
    )
    monkeypatch.setattr(_embedded, "_require_llama", lambda: fake_module)
    _embedded._load.cache_clear()
    try:
        with pytest.raises(ModelUnavailableError, match="make clean && make embedded"):
            _embedded._load("/nonexistent/model.gguf", 512, 1)
    finally:
        _embedded._load.cache_clear()
