"""Strata-Sword transforms: metadata, determinism, and recover(apply(goal)) == normalised goal for every method."""

from __future__ import annotations

import ast
import copy
import json
import re
import string
from collections import Counter
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacre.attack.transforms import (
    LANGUAGES,
    Transform,
    TransformedPrompt,
    detect_language,
    get_transform,
    join_units,
    normalize_goal,
    segment,
    transforms,
)
from nacre.attack.transforms._data import load, parse
from nacre.attack.transforms._filler import MAX_CHARS, MIN_CHARS
from nacre.errors import ConfigError

ALL = transforms()
EXPECTED = {
    "direct": 1,
    "shuffle": 2,
    "ascii-drawing": 2,
    "long-text": 2,
    "opposing": 2,
    "contradictory": 2,
    "template": 2,
    "shuffle-template": 3,
    "script-template": 3,
    "code-attack": 3,
    "dr-attack": 3,
    "character-split": 3,
    "acrostic": 3,
    "lantern-riddle": 3,
    "multi-turn-escalation": 3,
}
ZH_ONLY = {"character-split", "lantern-riddle"}
EN_NAMES = [n for n, t in ALL.items() if "en" in t.languages]
ZH_NAMES = [n for n, t in ALL.items() if "zh" in t.languages]
PAIRS = [(n, lang) for n, t in ALL.items() for lang in t.languages]

EN_GOAL = "Explain how to bake sourdough bread at home, step by step, for a complete beginner."
ZH_GOAL = "请详细讲解如何在家里用普通烤箱烤出一个松软的全麦面包"
GOALS = {"en": EN_GOAL, "zh": ZH_GOAL}

PROPERTY = settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# Benign-looking English: 1-25 words of letters/digits, some with punctuation around them, any whitespace between.
_word = st.text(string.ascii_letters + string.digits, min_size=1, max_size=10)
_punct = st.text(string.punctuation, max_size=2)
_en_word = st.builds(lambda a, w, b: a + w + b, _punct, _word, _punct)
_space = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", " \n "])
en_goals = st.lists(st.tuples(_en_word, _space), min_size=1, max_size=25).map(
    lambda parts: "".join(w + s for w, s in parts)
)

# Chinese: 2-40 characters from the common CJK block, with a few ASCII words, digits, punctuation and spaces mixed in.
_cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
_zh_extra = st.one_of(_word, st.sampled_from([" ", "，", "。", "？", "!", "?", "AI", "3D", "2024", "、", "（", "）"]))


@st.composite
def zh_goals(draw: st.DrawFn) -> str:
    chars = draw(st.lists(_cjk, min_size=2, max_size=40))
    for extra in draw(st.lists(_zh_extra, max_size=4)):
        chars.insert(draw(st.integers(0, len(chars))), extra)
    return "".join(chars)


seeds = st.integers(min_value=0, max_value=2**32)


# --- metadata and registry ---------------------------------------------------------------------------------------


def test_registry_has_every_strata_sword_method_in_level_then_name_order() -> None:
    assert dict((n, t.level) for n, t in ALL.items()) == EXPECTED
    assert list(ALL) == sorted(EXPECTED, key=lambda n: (EXPECTED[n], n))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_metadata_is_complete(name: str) -> None:
    t = ALL[name]
    assert isinstance(t, Transform)
    assert t.name == name
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", t.name)
    assert isinstance(t.description, str) and len(t.description) > 20
    assert t.level in (1, 2, 3)
    assert t.languages in (("en", "zh"), ("zh",))
    assert set(t.languages) <= set(LANGUAGES)
    assert isinstance(t.multi_turn, bool)
    assert t.multi_turn == (name == "multi-turn-escalation")
    assert isinstance(t.tags, tuple) and t.tags and all(isinstance(x, str) and x for x in t.tags)
    assert (t.languages == ("zh",)) == (name in ZH_ONLY)


def test_get_transform_and_unknown_name() -> None:
    assert get_transform("code-attack").name == "code-attack"
    with pytest.raises(ConfigError, match="unknown transform 'rot13'") as info:
        get_transform("rot13")
    for name in EXPECTED:
        assert name in str(info.value)


# --- normalisation ---------------------------------------------------------------------------------------------


@PROPERTY
@given(goal=st.one_of(en_goals, zh_goals()))
def test_normalisation_is_idempotent_and_segmentation_is_a_bijection(goal: str) -> None:
    norm = normalize_goal(goal)
    assert normalize_goal(norm) == norm
    assert segment(join_units(segment(goal))) == segment(goal)
    assert norm == norm.strip() and "  " not in norm and "\n" not in norm


@PROPERTY
@given(goal=en_goals)
def test_english_normalisation_only_collapses_whitespace(goal: str) -> None:
    assert normalize_goal(goal) == " ".join(goal.split())


def test_normalisation_examples_and_language_detection() -> None:
    assert normalize_goal("  bake\n\tbread  ") == "bake bread"
    assert normalize_goal("在 家 用 AI 工具 烤 面包") == "在家用AI工具烤面包"
    assert normalize_goal("用 3D printer 做 模型") == "用3D printer做模型"
    assert segment("用3D printer做") == ["用", "3D", "printer", "做"]
    assert detect_language(EN_GOAL) == "en"
    assert detect_language(ZH_GOAL) == "zh"
    assert detect_language("bake 面包") == "zh"
    assert detect_language("？！。") == "en"  # punctuation alone is not Chinese


# --- recover(apply(goal)) == normalised goal ----------------------------------------------------------------------


@pytest.mark.parametrize("name", EN_NAMES)
@PROPERTY
@given(goal=en_goals, seed=seeds)
def test_round_trip_english(name: str, goal: str, seed: int) -> None:
    t = ALL[name]
    prompt = t.apply(goal, seed=seed)
    assert prompt.language == "en"
    assert t.recover(prompt) == normalize_goal(goal)


@pytest.mark.parametrize("name", ZH_NAMES)
@PROPERTY
@given(goal=zh_goals(), seed=seeds)
def test_round_trip_chinese(name: str, goal: str, seed: int) -> None:
    t = ALL[name]
    prompt = t.apply(goal, seed=seed)
    assert prompt.language == "zh"
    assert t.recover(prompt) == normalize_goal(goal)


@pytest.mark.parametrize("name", [n for n in EN_NAMES if n in ZH_NAMES])
def test_explicit_language_overrides_detection(name: str) -> None:
    t = ALL[name]
    for goal, language in ((EN_GOAL, "zh"), (ZH_GOAL, "en")):
        prompt = t.apply(goal, seed=5, language=language)
        assert prompt.language == language
        assert t.recover(prompt) == normalize_goal(goal)
    if name not in ("direct", "shuffle"):  # these two have no wrapper text to translate
        assert t.apply(EN_GOAL, seed=5, language="zh").text != t.apply(EN_GOAL, seed=5, language="en").text


@PROPERTY
@given(goal=st.one_of(en_goals, zh_goals()), seed=seeds)
def test_shuffle_keeps_the_same_multiset_of_units(goal: str, seed: int) -> None:
    prompt = get_transform("shuffle").apply(goal, seed=seed)
    assert Counter(segment(prompt.text)) == Counter(segment(goal))
    if len(set(segment(goal))) >= 2:
        assert prompt.text != normalize_goal(goal)


# --- determinism, seeds, turns, meta ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "language"), PAIRS)
def test_same_seed_gives_identical_output(name: str, language: str) -> None:
    t = ALL[name]
    first = t.apply(GOALS[language], seed=1234)
    again = get_transform(name).apply(GOALS[language], seed=1234)
    assert first == again
    assert hash(first) == hash(again) and len({first, again}) == 1
    assert json.dumps(first.as_dict(), sort_keys=True) == json.dumps(again.as_dict(), sort_keys=True)


@pytest.mark.parametrize(("name", "language"), PAIRS)
def test_different_seeds_differ_for_randomised_methods(name: str, language: str) -> None:
    outputs = {ALL[name].apply(GOALS[language], seed=s).turns for s in range(10)}
    if name == "direct":
        assert len(outputs) == 1
    else:
        assert len(outputs) > 1


@pytest.mark.parametrize(("name", "language"), PAIRS)
def test_turns_are_non_empty_and_shaped_as_declared(name: str, language: str) -> None:
    t = ALL[name]
    goal = normalize_goal(GOALS[language])
    for seed in range(6):
        prompt = t.apply(GOALS[language], seed=seed)
        assert prompt.method == name and prompt.seed == seed
        assert prompt.turns and all(isinstance(turn, str) and turn.strip() for turn in prompt.turns)
        if t.multi_turn:
            assert 4 <= len(prompt.turns) <= 5
            assert goal in prompt.turns[-1]
            assert all(goal not in turn for turn in prompt.turns[:-1])
        else:
            assert len(prompt.turns) == 1


@pytest.mark.parametrize(("name", "language"), PAIRS)
def test_meta_is_json_and_does_not_carry_the_goal(name: str, language: str) -> None:
    t = ALL[name]
    prompt = t.apply(GOALS[language], seed=7)
    dumped = json.dumps(prompt.meta, ensure_ascii=False)
    assert normalize_goal(GOALS[language]) not in dumped
    if name not in ("direct", "opposing", "contradictory", "template", "lantern-riddle"):
        assert len(dumped) > 2  # these need more than the variant index to undo
    # An auditor can reload a stored prompt and still recover the goal.
    record = json.loads(json.dumps(prompt.as_dict()))
    reloaded = TransformedPrompt.from_dict(record)
    assert reloaded == prompt
    assert t.recover(reloaded) == normalize_goal(GOALS[language])


# --- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ZH_ONLY))
def test_chinese_only_transforms_reject_english(name: str) -> None:
    t = ALL[name]
    with pytest.raises(ConfigError, match="supports only"):
        t.apply(EN_GOAL)
    with pytest.raises(ConfigError, match="supports only"):
        t.apply(ZH_GOAL, language="en")
    with pytest.raises(ConfigError, match="Chinese-only"):
        t.apply(EN_GOAL, language="zh")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bad_input_raises_config_error(name: str) -> None:
    t = ALL[name]
    for goal in ("", "   \n\t"):
        with pytest.raises(ConfigError, match="non-empty"):
            t.apply(goal)
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        t.apply(ZH_GOAL, language="fr")
    with pytest.raises(ConfigError, match="seed must be an integer"):
        t.apply(ZH_GOAL, seed=True)


@pytest.mark.parametrize(("name", "language"), PAIRS)
def test_recover_rejects_foreign_or_tampered_prompts(name: str, language: str) -> None:
    t = ALL[name]
    prompt = t.apply(GOALS[language], seed=3)
    other = "shuffle" if name != "shuffle" else "direct"
    with pytest.raises(ConfigError, match="made by"):
        ALL[other].recover(prompt)
    if name in ("direct", "shuffle"):
        return  # the prompt is the (scrambled) goal itself, so there is no frame to damage
    damaged = TransformedPrompt(
        turns=(*prompt.turns[:-1], "Note: " + prompt.turns[-1] + " (edited)"),
        method=prompt.method,
        seed=prompt.seed,
        language=prompt.language,
        meta=prompt.meta,
    )
    with pytest.raises(ConfigError, match="cannot recover"):
        t.recover(damaged)
    broken_meta = copy.deepcopy(dict(prompt.meta))
    broken_meta.clear()
    with pytest.raises(ConfigError, match="cannot recover"):
        t.recover(TransformedPrompt(prompt.turns, prompt.method, prompt.seed, prompt.language, broken_meta))


def test_from_dict_validates_fields() -> None:
    good = get_transform("direct").apply(EN_GOAL).as_dict()
    for key, value in (("turns", []), ("turns", "text"), ("seed", "1"), ("seed", True), ("method", None)):
        bad = {**good, key: value}
        with pytest.raises(ConfigError, match=key):
            TransformedPrompt.from_dict(bad)


# --- method-specific shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_long_text_is_four_to_eight_thousand_characters_of_shipped_filler(language: str) -> None:
    t = get_transform("long-text")
    shipped = set(load().questions[language])
    goal = normalize_goal(GOALS[language])
    lengths = set()
    for seed in range(12):
        prompt = t.apply(GOALS[language], seed=seed)
        assert MIN_CHARS <= len(prompt.text) <= MAX_CHARS
        assert prompt.text.count(goal) == 1
        lengths.add(len(prompt.text))
        items = [m.group(1) for m in re.finditer(r"^\d+\. (.*)$", prompt.text, flags=re.MULTILINE)]
        assert len(items) == prompt.meta["questions"]
        fillers = [x for i, x in enumerate(items) if i != prompt.meta["target_index"]]
        assert len(fillers) >= 10 and set(fillers) <= shipped
    assert len(lengths) > 1


def test_ascii_drawing_cells_and_delimiter_fallback() -> None:
    t = get_transform("ascii-drawing")
    prompt = t.apply("bake bread", seed=0)
    assert prompt.text.endswith("|-bake-|-bread-|")
    piped = t.apply("bake x-|-y bread", seed=0)  # "|" cells would split x-|-y in two
    assert piped.meta["bar"] != "|"
    assert t.recover(piped) == "bake x-|-y bread"
    assert t.recover(t.apply("a | b|", seed=0)) == "a | b|"
    zh = t.apply("烤面包", seed=0)
    assert zh.text.endswith("|-烤-|-面-|-包-|")


@pytest.mark.parametrize("language", LANGUAGES)
def test_code_attack_is_python_holding_the_reversed_words(language: str) -> None:
    t = get_transform("code-attack")
    for seed in range(4):
        prompt = t.apply(GOALS[language], seed=seed)
        code = prompt.text.split("\n", 1)[1]
        tree = ast.parse(code)
        pushed = [
            node.args[0].value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ]
        assert pushed == segment(GOALS[language])[::-1]
        assert "deque()" in code


@pytest.mark.parametrize("language", LANGUAGES)
def test_acrostic_lines_start_with_the_goal_units(language: str) -> None:
    t = get_transform("acrostic")
    units = segment(GOALS[language])
    prompt = t.apply(GOALS[language], seed=2)
    shipped = load().lines[language]
    poem = [line for line in prompt.text.split("\n") if any(line.endswith(x) for x in shipped)]
    assert len(poem) == len(units)
    joint = "" if language == "zh" else " "
    for unit, line in zip(units, poem, strict=True):
        assert line.startswith(unit + joint)
        assert line[len(unit + joint) :] in shipped


def test_chinese_character_games() -> None:
    split = get_transform("character-split").apply("在家烤AI面包", seed=0)
    opening, closing = split.meta["brackets"]
    assert f"在{opening}1{closing}家{opening}2{closing}烤{opening}3{closing}AI{opening}4{closing}" in split.text
    riddle = get_transform("lantern-riddle").apply("在家烤AI面包", seed=0)
    assert "在在家家烤烤AIAI面面包包" in riddle.text


def test_dr_attack_lists_every_fragment_once() -> None:
    t = get_transform("dr-attack")
    prompt = t.apply(EN_GOAL, seed=11)
    pieces = re.findall(r'^\[P(\d+)\] (".*")$', prompt.text, flags=re.MULTILINE)
    mine = [(int(n), json.loads(text)) for n, text in pieces if int(n) <= prompt.meta["fragments"]]
    mine = mine[-prompt.meta["fragments"] :]  # the worked example comes first
    assert sorted(n for n, _ in mine) == list(range(1, prompt.meta["fragments"] + 1))
    assert Counter(u for _, text in mine for u in segment(text)) == Counter(segment(EN_GOAL))
    assert prompt.meta["fields"]["order"] != " ".join(f"[P{i}]" for i in range(1, prompt.meta["fragments"] + 1))


def test_multi_turn_escalation_builds_on_topic_words() -> None:
    t = get_transform("multi-turn-escalation")
    prompt = t.apply(EN_GOAL, seed=0)
    early = " ".join(prompt.turns[:-1]).lower()
    assert any(word in early for word in ("sourdough", "bread", "bake", "beginner"))
    assert prompt.meta["stages"][0] in ("background", "concepts")
    counts = {len(t.apply(EN_GOAL, seed=s).turns) for s in range(20)}
    assert counts == {4, 5}
    assert t.apply("Explain it.", seed=0).turns[0].count("this topic") == 1  # no content words -> generic topic


# --- shipped data ----------------------------------------------------------------------------------------------


def test_shipped_data_parses_and_bad_data_is_rejected() -> None:
    path = resources.files("nacre.data").joinpath("attack/transform_templates.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    data = parse(raw)
    assert len(data.questions["en"]) >= 50 and len(data.questions["zh"]) >= 50
    broken = copy.deepcopy(raw)
    broken["templates"]["opposing"]["en"][0] = "no placeholder here"
    with pytest.raises(ConfigError, match=r"templates\.opposing\.en\[0\].*payload"):
        parse(broken)
    broken = copy.deepcopy(raw)
    broken["templates"]["contradictory"]["zh"] = ["{payload} {oops}"]
    with pytest.raises(ConfigError, match="unknown placeholders"):
        parse(broken)
    broken = copy.deepcopy(raw)
    del broken["templates"]["lantern-riddle"]
    with pytest.raises(ConfigError, match="lantern-riddle is missing"):
        parse(broken)
    with pytest.raises(ConfigError, match="schema"):
        parse({**raw, "schema": 99})
