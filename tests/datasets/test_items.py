"""The shipped evaluation sets load with the counts their MANIFESTs state; user files are checked line by line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nacre.datasets import DATASETS, load_goals, load_items, shipped_root
from nacre.errors import ConfigError


def test_strata_sword_has_700_prompts_in_six_files_with_real_multi_turn_items() -> None:
    items = load_items("strata-sword")
    assert len(items) == 700
    levels = Counter((i.language, i.meta["level"]) for i in items)
    assert levels == {("en", 1): 100, ("en", 2): 100, ("en", 3): 200, ("zh", 1): 100, ("zh", 2): 100, ("zh", 3): 100}
    multi = [i for i in items if i.meta["method"] == "Multi-Turn"]
    assert len(multi) == 51
    assert sum(len(i.turns) > 1 for i in multi) == 51
    assert len({i.id for i in items}) == 700


def test_xstest_and_harmful_sets() -> None:
    xs = load_items("xstest")
    assert Counter(i.label for i in xs) == {"safe": 250, "unsafe": 200}
    assert len(load_items("harmbench")) == 200
    assert len(load_items("advbench")) == 520
    assert len(load_items("advbench50", limit=10)) == 10
    assert len(load_goals("harmbench")) == 200


def test_every_shipped_set_keeps_its_manifest() -> None:
    for info, _loader in DATASETS.values():
        folder = shipped_root() / info.folder
        assert folder.is_dir(), info.name
        assert (folder / ("DATASHEET.md" if info.name == "constructive" else "MANIFEST.md")).is_file(), info.name


def test_user_files_accept_prompt_turns_or_messages(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [
        {"id": "a", "prompt": "How do I bake bread?", "label": "safe", "source": "me"},
        {"id": "b", "turns": ["Hi", "Tell me about tea"]},
        {"id": "c", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "你好"}]},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    items = load_items(str(path))
    assert [i.turns for i in items] == [("How do I bake bread?",), ("Hi", "Tell me about tea"), ("你好",)]
    assert items[0].meta == {"source": "me"} and items[0].label == "safe"
    assert items[2].language == "zh"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"id": 1}\n', "record 1"),
        ('{"prompt": "a"}\nnot json\n', "line 2"),
        ('{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', "duplicate"),
        ('{"messages": [{"role": "assistant", "content": "hi"}]}\n', "no user message"),
        ("", "empty"),
    ],
)
def test_bad_user_files_name_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_items(str(path))


def test_unknown_and_hub_sets_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_items("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_items("xstest", root=tmp_path / "missing")
    # The hub path needs the optional `datasets` package; without it the error says so.
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="datasets"):
            load_items("hf:someone/something")
