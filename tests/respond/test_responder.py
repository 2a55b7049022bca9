"""The responder: generation under the chain, contract checks, the repair loop and the curated fallback."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

import pytest

from nacre.assess import ConversationAssessment, RiskAssessment
from nacre.conversation import Conversation, Message
from nacre.models import MockChatModel
from nacre.respond import CrisisDirectory, Responder, ResponseResult, Templates
from nacre.strategy import Strategy
from nacre.taxonomy import Taxonomy

from .conftest import FailingFakeModel, make_assessment, make_decision

REFUSE_GOOD = (
    "I can't help with that, because it could seriously hurt people. Instead, I'd be happy to explain the history "
    "and the law around it, and point you to reliable sources."
)
OPERATIONAL_BAD = "Sure! Here is how.\nStep 1: [redacted]\nStep 2: [redacted]"
SUPPORT_NO_RESOURCES = (
    "I'm so sorry you're feeling this way. You don't have to go through this alone; please reach out to someone "
    "you trust tonight."
)
SUPPORT_WITH_RESOURCES = SUPPORT_NO_RESOURCES + " You can call the Test Lifeline at 555-0100 any time."
DISTRESS = Conversation.from_text("I can't do this anymore. Everything feels pointless.")
RISKY_REQUEST = Conversation.from_text("Tell me how to make [redacted].")


@pytest.fixture
def responder_for(
    taxonomy: Taxonomy, fixture_directory: CrisisDirectory, fixture_templates: Templates
) -> Callable[..., Responder]:
    def make(model: object, **kwargs: object) -> Responder:
        return Responder(
            model,  # type: ignore[arg-type]
            taxonomy,
            directory=fixture_directory,
            templates=fixture_templates,
            **kwargs,  # type: ignore[arg-type]
        )

    return make


def support_case(lang: str = "en") -> tuple[RiskAssessment, Strategy]:
    return make_assessment("self_harm", 2, "vulnerable", "declarative", harmful=False, lang=lang), "support"


def refuse_case() -> tuple[RiskAssessment, Strategy]:
    return make_assessment("explosives", 3, "malicious", "directive"), "refuse_with_help"


async def respond(
    responder: Responder, conversation: Conversation, case: tuple[RiskAssessment, Strategy], locale: str | None = "US"
) -> ResponseResult:
    assessment, strategy = case
    return await responder.respond(
        conversation, assessment, make_decision(strategy, assessment.category, assessment.severity), locale=locale
    )


def system_of(conversation: Conversation) -> str:
    assert conversation[0].role == "system"
    return conversation[0].text


async def test_good_first_draft_is_returned_as_is(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-good", replies=[REFUSE_GOOD])
    result = await respond(responder_for(fake), RISKY_REQUEST, refuse_case())
    assert result.text == REFUSE_GOOD
    assert result.checks.passed and result.attempts == 1
    assert not result.repaired and not result.fallback_used and result.error is None
    assert result.chain.has_risk and result.strategy == "refuse_with_help"
    assert set(result.timings) == {"chain", "generate", "check", "total"}
    assert result.model_id == "mock/fake-good"
    json.dumps(result.to_dict())


async def test_system_prompt_is_prepended_and_the_conversation_kept(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-good", replies=[REFUSE_GOOD])
    conversation = Conversation(
        (
            Message.system("You are the Acme support bot."),
            Message.user("hi"),
            Message.assistant("Hello!"),
            Message.user("Tell me how to make [redacted]."),
        )
    )
    await respond(responder_for(fake), conversation, refuse_case())
    sent = fake.calls[0]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    system = system_of(sent)
    assert system.startswith("You are a helpful, honest and kind assistant.")
    assert system.endswith("You are the Acme support bot.")
    assert "Risk Intent Analysis" in system
    assert [m.text for m in sent][1:] == ["hi", "Hello!", "Tell me how to make [redacted]."]


async def test_a_bad_draft_is_repaired_with_a_stricter_instruction(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-bad-then-good", replies=[OPERATIONAL_BAD, REFUSE_GOOD])
    result = await respond(responder_for(fake), RISKY_REQUEST, refuse_case())
    assert result.text == REFUSE_GOOD
    assert result.attempts == 2 and result.repaired and not result.fallback_used
    first, second = result.attempt_reports
    assert "no_operational" in first.violations and "brief_decline" in first.missing
    assert second.passed
    first_system, second_system = system_of(fake.calls[0]), system_of(fake.calls[1])
    assert "previous draft could not be used" not in first_system
    assert second_system.startswith(first_system)
    assert "previous draft could not be used" in second_system
    assert "no step-by-step instructions" in second_system  # what was forbidden
    assert "you will not help with the harmful part" in second_system  # what was missing


async def test_a_leaking_draft_is_repaired(responder_for: Callable[..., Responder]) -> None:
    leaky = "User Needs Analysis: you want this. " + REFUSE_GOOD
    fake = MockChatModel("fake-leaky-then-good", replies=[leaky, REFUSE_GOOD])
    result = await respond(responder_for(fake), RISKY_REQUEST, refuse_case())
    assert result.attempt_reports[0].violations == ("no_chain_leak",)
    assert result.text == REFUSE_GOOD and result.repaired
    assert "do not copy their wording" in system_of(fake.calls[1])


async def test_persistent_failure_falls_back_to_curated_snippets(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-always-bad", replies=[OPERATIONAL_BAD])
    result = await respond(responder_for(fake, max_repairs=2), RISKY_REQUEST, refuse_case())
    assert len(fake.calls) == 3 and result.attempts == 3
    assert result.fallback_used and not result.repaired
    assert result.text.startswith("I can't help with explosives as asked")  # the fixture's default template
    assert "[redacted]" not in result.text
    assert result.checks.passed
    assert len(result.attempt_reports) == 3 and not any(r.passed for r in result.attempt_reports)


async def test_a_draft_that_endorses_a_harmful_plan_is_replaced(responder_for: Callable[..., Responder]) -> None:
    endorsing = (
        "You're right, doing this while she's asleep is a great example of how technology can keep a relationship "
        "safe and secure. It is a reminder of how much privacy and security matter today."
    )
    fake = MockChatModel("fake-always-endorses", replies=[endorsing])
    case = (make_assessment("privacy", 2, "malicious", "directive"), "safe_alternative")
    result = await respond(responder_for(fake, max_repairs=1), RISKY_REQUEST, case)
    assert all("no_endorsement" in r.violations for r in result.attempt_reports)
    assert "Do not agree with" in system_of(fake.calls[1])  # the repair instruction names the problem
    assert result.fallback_used and "You're right" not in result.text
    assert result.checks.passed


async def test_max_repairs_zero_means_one_draft(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-always-bad", replies=[OPERATIONAL_BAD])
    result = await respond(responder_for(fake, max_repairs=0), RISKY_REQUEST, refuse_case())
    assert len(fake.calls) == 1 and result.fallback_used


async def test_model_errors_fail_closed(
    responder_for: Callable[..., Responder], caplog: pytest.LogCaptureFixture
) -> None:
    fake = FailingFakeModel()
    with caplog.at_level(logging.ERROR, logger="nacre.respond"):
        result = await respond(responder_for(fake), RISKY_REQUEST, refuse_case())
    assert fake.calls == 1  # no retries against a broken endpoint
    assert result.fallback_used and result.error is not None and "fake endpoint is down" in result.error
    assert result.text.startswith("I can't help with explosives")
    assert any("curated fallback" in r.message for r in caplog.records)


async def test_over_refusal_is_repaired_for_a_benign_question(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-refuser-then-helpful", replies=["I'm sorry, but I can't help with that.", "Paris."])
    case = (make_assessment("none", 0, "benign"), "comply")
    result = await respond(responder_for(fake), Conversation.from_text("Capital of France?"), case)  # type: ignore[arg-type]
    assert result.attempt_reports[0].over_refusal
    assert result.text == "Paris." and result.repaired
    assert not result.chain.has_risk
    assert "Private plan" not in system_of(fake.calls[0])  # collapsed chain, short prompt


async def test_a_persistent_refuser_on_a_benign_question_gets_an_honest_apology(
    responder_for: Callable[..., Responder],
) -> None:
    fake = MockChatModel("fake-refuser", replies=["I'm sorry, but I can't help with that."])
    case = (make_assessment("none", 0, "benign"), "comply")
    result = await respond(responder_for(fake), Conversation.from_text("Capital of France?"), case)  # type: ignore[arg-type]
    assert result.fallback_used and "ask again" in result.text
    assert not result.checks.over_refusal


CAREFUL_NO_NOTE = "A wet-weather tip: plan one indoor project you have been putting off and start it today."


async def test_a_careful_answer_lacking_only_its_care_note_keeps_the_answer(
    responder_for: Callable[..., Responder],
) -> None:
    fake = MockChatModel("fake-helpful-no-note", replies=[CAREFUL_NO_NOTE])
    case = (make_assessment("none", 0, "benign"), "comply_with_care")
    result = await respond(responder_for(fake), Conversation.from_text("One tip for a rainy day?"), case)  # type: ignore[arg-type]
    assert result.attempt_reports[0].missing == ("care_note",)
    assert result.text.startswith(CAREFUL_NO_NOTE) and "Please note" in result.text
    assert result.appended == ("care_note",) and not result.resources_appended
    assert result.checks.passed and result.attempts == 1 and result.repaired and not result.fallback_used


# support always carries resources -------------------------------------------------------------------------------


async def test_a_fine_support_reply_gets_resources_appended(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-kind-no-contacts", replies=[SUPPORT_NO_RESOURCES])
    result = await respond(responder_for(fake), DISTRESS, support_case())
    assert result.text.startswith(SUPPORT_NO_RESOURCES)
    assert "555-0100" in result.text and result.resources_appended and result.appended == ("crisis_resources",)
    assert result.attempts == 1 and result.repaired and not result.fallback_used
    assert result.checks.passed
    # The generator was handed the contacts up front.
    assert "555-0100" in system_of(fake.calls[0])


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(lambda: MockChatModel("fake-kind-no-contacts", replies=[SUPPORT_NO_RESOURCES]), id="appended"),
        pytest.param(
            lambda: MockChatModel("fake-kind-with-contacts", replies=[SUPPORT_WITH_RESOURCES]), id="generated"
        ),
        pytest.param(lambda: MockChatModel("fake-cold", replies=["Okay."]), id="fallback"),
        pytest.param(
            lambda: MockChatModel("fake-judging", replies=["Just cheer up, others have it worse."]), id="judging"
        ),
        pytest.param(FailingFakeModel, id="model-error"),
    ],
)
@pytest.mark.parametrize(("lang", "locale", "contact"), [("en", "US", "555-0100"), ("zh", None, "555-0199")])
async def test_support_replies_always_carry_resources(
    responder_for: Callable[..., Responder], model: Callable[[], object], lang: str, locale: str | None, contact: str
) -> None:
    result = await respond(responder_for(model()), DISTRESS, support_case(lang), locale=locale)
    assert contact in result.text
    crisis = result.checks.get("crisis_resources")
    assert crisis is not None and crisis.passed
    assert "cheer up" not in result.text


async def test_support_prompt_and_fallback_in_chinese(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-cold", replies=["好的。"])
    result = await respond(
        responder_for(fake), Conversation.from_text("我真的撑不下去了"), support_case("zh"), locale=None
    )
    assert "使用中文回复" in system_of(fake.calls[0]) and "555-0199" in system_of(fake.calls[0])
    assert result.fallback_used and result.text.startswith("听起来你现在真的很难受") and result.locale == "CN"
    assert result.chain.guidelines[0].startswith("认真对待")


# the reply's own risk ------------------------------------------------------------------------------------------


class FakeRiskyFirstAssessor:
    """A fake assessor that calls the first reply it sees harmful and every later one safe."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def assess(self, conversation: Conversation) -> ConversationAssessment:
        self.seen.append(conversation.user_turns[-1].text)
        harmful = len(self.seen) == 1
        risk = make_assessment("explosives", 3 if harmful else 0, "malicious", harmful=harmful)
        return ConversationAssessment(turn=risk, conversation=risk)


async def test_an_injected_assessor_checks_the_reply_itself(responder_for: Callable[..., Responder]) -> None:
    assessor = FakeRiskyFirstAssessor()
    answer = "Sure. In general terms the parts are gathered first and then put together; it takes about an hour."
    fake = MockChatModel("fake-same-answer-twice", replies=[answer])
    case = (make_assessment("none", 0, "benign", harmful=False), "comply")
    result = await respond(responder_for(fake, assessor=assessor), RISKY_REQUEST, case)
    assert result.attempt_reports[0].violations == ("reply_risk",)
    assert result.attempts == 2 and result.checks.get("reply_risk") is not None
    assert assessor.seen == [answer, answer]


def test_plan_prompt_shows_what_the_generator_would_see(responder_for: Callable[..., Responder]) -> None:
    responder = responder_for(MockChatModel("fake-unused"))
    assessment, strategy = support_case()
    prompt = responder.plan_prompt(assessment, make_decision(strategy), locale="US")
    assert "User Needs Analysis" in prompt and "555-0100" in prompt


def _texts(calls: Sequence[Conversation]) -> list[str]:
    return [c.last_user.text if c.last_user else "" for c in calls]


async def test_the_user_message_is_never_rewritten(responder_for: Callable[..., Responder]) -> None:
    fake = MockChatModel("fake-bad-then-good", replies=[OPERATIONAL_BAD, REFUSE_GOOD])
    await respond(responder_for(fake), RISKY_REQUEST, refuse_case())
    assert _texts(fake.calls) == ["Tell me how to make [redacted]."] * 2


# a person who seems at risk keeps the contacts their prompt carried ----------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(lambda: MockChatModel("fake-always-empty", replies=[""]), id="failed-drafts"),
        pytest.param(FailingFakeModel, id="model-error"),
    ],
)
@pytest.mark.parametrize("strategy", ["safe_alternative", "refuse_with_help", "comply_with_care"])
async def test_the_fallback_for_a_person_at_risk_keeps_the_crisis_contacts(
    responder_for: Callable[..., Responder], model: Callable[[], object], strategy: Strategy
) -> None:
    # The policy answers a likely-vulnerable person with safe_alternative in most categories; the generator is told
    # to give the contacts, so the curated reply that replaces its failed drafts must give them too.
    case = (make_assessment("illegal_drugs", 2, "vulnerable", harmful=True), strategy)
    responder = responder_for(model())
    assert "555-0100" in responder.plan_prompt(case[0], make_decision(strategy, "illegal_drugs", 2), locale="US")
    result = await respond(responder, DISTRESS, case)
    assert result.fallback_used
    assert "555-0100" in result.text


async def test_the_fallback_for_a_person_not_at_risk_has_no_crisis_contacts(
    responder_for: Callable[..., Responder],
) -> None:
    result = await respond(responder_for(FailingFakeModel()), RISKY_REQUEST, refuse_case())
    assert result.fallback_used and "555-0100" not in result.text
