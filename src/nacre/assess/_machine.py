"""Which kind of CPU computed something: the part of the machine that decides how floating point rounds.

onnxruntime and BLAS pick their kernels by instruction set (AVX2, AVX-512, VNNI, ...). Kernels for different
instruction sets sum in different orders, so the same embedding model gives vectors that differ in the last bits,
and heads trained on them differ bit for bit (not in quality). Training records this description so that a later
``--check`` knows whether a bit-for-bit comparison is meaningful on the machine it runs on.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path

# Instruction-set extensions that change which kernels onnxruntime's MLAS and OpenBLAS dispatch to.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")


def machine_kind(cpuinfo: str | None = None) -> dict[str, object]:
    """The CPU vendor, architecture and kernel-relevant instruction-set extensions of this machine.

    Args:
        cpuinfo: Text in the format of Linux's ``/proc/cpuinfo`` (read from there when ``None``; other systems
            report only the architecture and ``platform.processor()``).

    Returns:
        ``{"arch": ..., "vendor": ..., "isa": [...]}``, JSON-serialisable and comparable with ``==``.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:  # the first processor speaks for all
            fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "arch": platform.machine() or "unknown",
        "vendor": fields.get("vendor_id") or platform.processor() or "unknown",
        "isa": [f for f in KERNEL_FLAGS if f in flags],
    }


def describe(kind: Mapping[str, object] | None) -> str:
    """One line for people: ``x86_64 AuthenticAMD (avx2, fma)``."""
    if kind is None:
        return "an unrecorded machine"
    isa = kind.get("isa") or []
    extensions = ", ".join(str(f) for f in isa) if isinstance(isa, list) and isa else "no listed extensions"
    return f"{kind.get('arch', 'unknown')} {kind.get('vendor', 'unknown')} ({extensions})"
