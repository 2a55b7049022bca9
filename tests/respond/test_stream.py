"""Streaming a reply with a sliding-window check: stop on forbidden content, then repair or fall back."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nacre.conversation import Conversation
from nacre.models import MockChatModel
from nacre.respond import CrisisDirectory, Responder, ResponseStream, Templates
from nacre.taxonomy import Taxonomy

from .conftest import FailingFakeModel, make_assessment, make_decision

REFUSE_GOOD = (
    "I can't help with that, because it could seriously hurt people. Instead, I'd be happy to explain the history "
    "and the law around it, and point you to reliable sources."
)
BENIGN_PREFIX = (
    "That's a question people ask for many reasons, and there's a long history behind it that is worth knowing "
    "about before anything else. "
)
TAIL = " ".join(["More filler text that should never be generated once the stream has been stopped."] * 20)
FORBIDDEN = BENIGN_PREFIX + "\nStep 1: [redacted]\nStep 2: [redacted]\n" + TAIL
SUPPORT_NO_RESOURCES = (
    "I'm so sorry you're feeling this way. You don't have to go through this alone; please reach out to someone "
    "you trust tonight."
)
REQUEST = Conversation.from_text("Tell me how to make [redacted].")


@pytest.fixture
def responder_for(
    taxonomy: Taxonomy, fixture_directory: CrisisDirectory, fixture_templates: Templates
) -> Callable[..., Responder]:
    def make(model: object, **kwargs: object) -> Responder:
        return Responder(model, taxonomy, directory=fixture_directory, templates=fixture_templates, **kwargs)  # type: ignore[arg-type]

    return make


def refuse_stream(responder: Responder, conversation: Conversation = REQUEST) -> ResponseStream:
    # A safe alternative streams piece by piece (a refusal is checked whole first: see the test at the end).
    assessment = make_assessment("explosives", 3, "malicious", "directive")
    return responder.stream(conversation, assessment, make_decision("safe_alternative", "explosives", 3), locale="US")


async def collect(stream: ResponseStream) -> list[str]:
    return [chunk async for chunk in stream]


async def test_a_clean_stream_is_passed_through(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-good", replies=[REFUSE_GOOD])
    stream = refuse_stream(responder_for(fake))
    chunks = await collect(stream)
    assert len(chunks) > 3  # really streamed, not one block
    assert "".join(chunks) == REFUSE_GOOD
    result = stream.result
    assert result.text == REFUSE_GOOD and result.checks.passed
    assert not result.interrupted and not result.repaired and not result.fallback_used and result.attempts == 1


async def test_stream_stops_on_a_forbidden_pattern_and_yields_a_repair(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-bad-then-good", replies=[FORBIDDEN, REFUSE_GOOD])
    stream = refuse_stream(responder_for(fake))
    chunks = await collect(stream)
    text = "".join(chunks)
    assert "[redacted]" not in text and "Step 2" not in text and "filler" not in text
    assert text.endswith("\n\n" + REFUSE_GOOD)
    assert text.startswith(BENIGN_PREFIX[:40])  # what was already sent stays
    result = stream.result
    assert result.text == text
    assert result.interrupted and result.repaired and not result.fallback_used
    assert result.attempts == 2
    assert "previous draft could not be used" in (fake.calls[1][0].text)


async def test_nothing_is_sent_before_the_hold_back_window_clears(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-bad-then-good", replies=["Step 1: [redacted]\nStep 2: [redacted]", REFUSE_GOOD])
    stream = refuse_stream(responder_for(fake))
    chunks = await collect(stream)
    assert "".join(chunks) == REFUSE_GOOD  # no separator: nothing had been sent
    assert stream.result.interrupted


async def test_stream_falls_back_when_repairs_keep_failing(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-always-bad", replies=[FORBIDDEN])
    stream = refuse_stream(responder_for(fake, max_repairs=1))
    text = "".join(await collect(stream))
    assert "[redacted]" not in text
    assert text.rstrip().endswith("without the specifics that could cause harm.")  # the fixture's template
    assert stream.result.fallback_used and stream.result.attempts == 2


async def test_a_chain_leak_trips_the_stream(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-leaky-then-good", replies=["Risk Intent Analysis: directive. " + TAIL, REFUSE_GOOD])
    stream = refuse_stream(responder_for(fake))
    text = "".join(await collect(stream))
    assert "Risk Intent" not in text and text == REFUSE_GOOD
    assert stream.result.interrupted and stream.result.attempts == 2


async def test_a_model_error_mid_stream_falls_back(responder_for: Callable[..., Responder]) -> None:
    fake = FailingFakeModel(partial=BENIGN_PREFIX * 2)
    stream = refuse_stream(responder_for(fake))
    text = "".join(await collect(stream))
    result = stream.result
    assert result.fallback_used and result.error is not None and "dropped" in result.error
    assert text.startswith(BENIGN_PREFIX[:40]) and "I'll keep to the general picture" in text


def support_stream(responder: Responder) -> ResponseStream:
    assessment = make_assessment("self_harm", 2, "vulnerable", "declarative", harmful=False)
    return responder.stream(
        Conversation.from_text("Everything feels pointless."), assessment, make_decision("support"), locale="US"
    )


async def test_a_support_stream_gets_resources_appended(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-kind-no-contacts", replies=[SUPPORT_NO_RESOURCES])
    stream = support_stream(responder_for(fake))
    chunks = await collect(stream)
    assert "".join(chunks).startswith(SUPPORT_NO_RESOURCES)
    assert "555-0100" in chunks[-1]
    assert stream.result.resources_appended and stream.result.checks.passed


async def test_a_support_draft_that_fails_its_contract_never_reaches_the_user(
    responder_for: Callable[..., Responder],
) -> None:
    # Nothing operational, so no window check trips; but it acknowledges nothing and points to no one.
    off = "Happy to help. Here is a short, general answer to your question, with the main points first."
    fake = MockChatModel("fake-off-topic", replies=[off])
    stream = support_stream(responder_for(fake, max_repairs=1))
    chunks = await collect(stream)
    assert len(chunks) == 1 and "Happy to help" not in chunks[0]  # checked whole before anything was sent
    result = stream.result
    assert result.fallback_used and result.checks.passed and "555-0100" in result.text
    assert result.attempts == 2 and len(fake.calls) == 2  # one repair was tried first


async def test_a_careful_stream_gets_its_care_note_appended(responder_for: Callable[..., Responder]) -> None:
    answer = "A wet-weather tip: plan one indoor project you have been putting off and start it today."
    fake = MockChatModel("fake-helpful-no-note", replies=[answer])
    stream = responder_for(fake).stream(
        Conversation.from_text("One tip for a rainy day?"),
        make_assessment("none", 0, "benign"),
        make_decision("comply_with_care"),
    )
    chunks = await collect(stream)
    assert "".join(chunks).startswith(answer) and "Please note" in chunks[-1]
    assert stream.result.appended == ("care_note",) and stream.result.checks.passed and not stream.result.fallback_used


async def test_result_needs_a_finished_stream_and_a_stream_is_read_once(
    responder_for: Callable[..., Responder],
) -> None:
    fake = MockChatModel("fake-good", replies=[REFUSE_GOOD])
    stream = refuse_stream(responder_for(fake))
    with pytest.raises(RuntimeError, match="not finished"):
        _ = stream.result
    async for _chunk in stream:
        break
    await stream.aclose()
    with pytest.raises(RuntimeError, match="only once"):
        await collect(stream)
    with pytest.raises(RuntimeError, match="not finished"):
        _ = stream.result


async def test_a_refusal_is_checked_whole_before_any_of_it_is_sent(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-goes-along-then-good", replies=[FORBIDDEN, REFUSE_GOOD])
    assessment = make_assessment("explosives", 3, "malicious", "directive")
    stream = responder_for(fake).stream(
        REQUEST, assessment, make_decision("refuse_with_help", "explosives", 3), locale="US"
    )
    chunks = await collect(stream)
    assert chunks == [REFUSE_GOOD]  # nothing of the first draft went out, not even its harmless opening
    assert stream.result.attempts == 2 and stream.result.checks.passed


async def test_a_stream_that_ends_without_text_is_repaired_not_sent_empty(
    responder_for: Callable[..., Responder],
) -> None:
    answer = "Pothos is an easy houseplant: it tolerates low light and forgets-to-water owners."
    fake = MockChatModel("fake-silent-then-good", replies=["", answer])
    assessment = make_assessment()
    stream = responder_for(fake).stream(
        Conversation.from_text("Name a good houseplant."), assessment, make_decision("comply"), locale="US"
    )
    text = "".join(await collect(stream))
    result = stream.result
    assert text == answer and result.text == text
    assert result.checks.passed and result.repaired and result.attempts == 2
    assert "previous draft could not be used" in fake.calls[1][0].text


async def test_a_silent_stream_without_repairs_falls_back(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-silent", replies=[""])
    stream = responder_for(fake, max_repairs=0).stream(
        Conversation.from_text("Name a good houseplant."), make_assessment(), make_decision("comply"), locale="US"
    )
    text = "".join(await collect(stream))
    assert text.strip() and stream.result.fallback_used and stream.result.text == text


async def test_a_stream_for_a_person_at_risk_falls_back_with_the_crisis_contacts(
    responder_for: Callable[..., Responder],
) -> None:
    assessment = make_assessment("illegal_drugs", 2, "vulnerable", harmful=True)
    decision = make_decision("safe_alternative", "illegal_drugs", 2)
    stream = responder_for(FailingFakeModel()).stream(REQUEST, assessment, decision, locale="US")
    text = "".join(await collect(stream))
    assert stream.result.fallback_used and "555-0100" in text
