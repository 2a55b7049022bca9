"""Which kind of CPU trained the heads, and when two head sets agree though their bits differ."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nacre.assess import describe_machine, heldout_differences, load_heads, machine_kind

_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni

processor\t: 1
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx avx2 fma bmi2 sha_ni avx512f
"""

_XEON = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni amx_tile avx512_bf16
"""


def test_machine_kind_reads_vendor_and_kernel_flags() -> None:
    kind = machine_kind(_EPYC)
    assert kind["vendor"] == "AuthenticAMD"
    assert kind["isa"] == ["avx2", "fma"]  # the first processor speaks for all; unrelated flags are left out
    xeon = machine_kind(_XEON)
    assert xeon["isa"] == ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile"]
    assert kind != xeon
    assert machine_kind(_EPYC) == kind  # comparable with ==, as the --check needs


def test_machine_kind_without_cpuinfo_still_names_the_architecture() -> None:
    kind = machine_kind("")
    assert kind["isa"] == [] and kind["arch"]
    assert "no listed extensions" in describe_machine(kind)
    assert describe_machine(None) == "an unrecorded machine"
    assert describe_machine(machine_kind(_EPYC)).endswith("AuthenticAMD (avx2, fma)")


def test_the_shipped_heads_record_their_machine() -> None:
    assert load_heads().meta["machine"]["vendor"] == "AuthenticAMD"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, []),
        ({"threshold": 0.04}, []),
        ({"threshold": 0.06}, ["harm threshold"]),
        ({"metric": 0.015}, []),
        ({"metric": 0.03}, ["held-out user_type_accuracy"]),
        ({"corpus": True}, ["trained on different corpora"]),
    ],
)
def test_heldout_differences_flags_only_what_rounding_cannot_explain(
    change: dict[str, float], expected: list[str]
) -> None:
    shipped = load_heads()
    meta = dict(shipped.meta)
    held = dict(meta["heldout"])
    held["user_type_accuracy"] = held["user_type_accuracy"] + change.get("metric", 0.0)
    meta["heldout"] = held
    if change.get("corpus"):
        meta["corpus_sha256"] = "0" * 64
    thresholds = {**shipped.thresholds, "harmful": shipped.thresholds["harmful"] + change.get("threshold", 0.0)}
    other = replace(shipped, meta=meta, thresholds=thresholds)
    found = heldout_differences(shipped, other)
    assert [p for p in found if not any(p.startswith(e) for e in expected)] == []
    assert all(any(p.startswith(e) for p in found) for e in expected)
