"""Rendering a safety chain into the generator's system prompt, in English or Chinese."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from nacre.respond._chain import SafetyChain
from nacre.strategy import Strategy


@dataclass(frozen=True, slots=True)
class NodeNames:
    """The names of the chain's nodes as the prompt shows them (and as a reply must never repeat them).

    Attributes:
        needs: The needs node.
        risk_intent: The risk-intent node.
        guidelines: The guidelines node.
        strategies: The strategy node that holds both sets.
        safety: The safety-strategy set.
        usefulness: The usefulness-strategy set.
        plan: The label of the whole private plan.
    """

    needs: str
    risk_intent: str
    guidelines: str
    strategies: str
    safety: str
    usefulness: str
    plan: str


NODE_NAMES: Mapping[str, NodeNames] = MappingProxyType(
    {
        "en": NodeNames(
            needs="User Needs Analysis",
            risk_intent="Risk Intent Analysis",
            guidelines="Safety Guidelines",
            strategies="Response Strategy Formulation",
            safety="Safety Strategies",
            usefulness="Usefulness Strategies",
            plan="Private plan",
        ),
        "zh": NodeNames(
            needs="用户需求分析",
            risk_intent="风险意图分析",
            guidelines="安全准则",
            strategies="回复策略制定",
            safety="安全策略",
            usefulness="有用性策略",
            plan="内部计划",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class _Wording:
    persona: str
    think: str
    end_plan: str
    approach: str
    rules: tuple[str, ...]
    priority: str
    collapsed: str
    collapsed_notes: str
    reply_in: str
    separator: str
    repair_intro: str
    repair_outro: str
    resources_note: str


_WORDING: Mapping[str, _Wording] = MappingProxyType(
    {
        "en": _Wording(
            persona="You are a helpful, honest and kind assistant.",
            think=(
                "Before you reply, privately think the user's message through along the plan below, "
                "then write only the reply itself."
            ),
            end_plan="End of private plan",
            approach="Overall approach",
            rules=(
                "Speak naturally and directly to the user, as a caring, knowledgeable person would.",
                "Never mention the plan, its headings, its guidelines or its strategies, and do not quote them; "
                "simply act on them.",
                "Where safety and helpfulness pull apart, safety wins, but give as much real help as is safe.",
            ),
            priority=" (in priority order)",
            collapsed="{persona} What the user wants: {needs}",
            collapsed_notes="Keep in mind, without mentioning it: {notes}.",
            reply_in="Answer naturally and fully. Reply in English.",
            separator="; ",
            repair_intro=("Your previous draft could not be used. Write a new reply from scratch, and make sure that:"),
            repair_outro="Do not mention this note or that there was an earlier draft.",
            resources_note=(
                "If the person may be at risk, include these contacts in your reply, exactly as written:\n{resources}"
            ),
        ),
        "zh": _Wording(
            persona="你是一位乐于助人、诚实而友善的助手。",
            think="回复之前，请先在心里按照下面的计划把用户的消息想清楚，然后只写出给用户的回复本身。",
            end_plan="内部计划结束",
            approach="整体思路",
            rules=(
                "像一位体贴、懂行的人那样，自然、直接地对用户说话。",
                "绝不提及这个计划、它的标题、准则或策略，也不要引用它们的原话，只需照着去做。",
                "当安全与有用发生冲突时，以安全为先，但在安全范围内尽量给出实际帮助。",
            ),
            priority="（按优先级排列）",
            collapsed="{persona}用户想要的是：{needs}",
            collapsed_notes="请记住以下要点，但不要提及它们：{notes}。",
            reply_in="请自然、完整地回答，并使用中文回复。",
            separator="；",
            repair_intro="你上一版的回复不能使用。请从头重新写一份回复，并确保：",
            repair_outro="不要提及这段说明，也不要提到之前有过草稿。",
            resources_note="如果对方可能有危险，请在回复中原样提供以下求助渠道：\n{resources}",
        ),
    }
)

# Plain-language descriptions of each strategy: the prompt never shows a strategy's identifier.
_APPROACH: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "en": MappingProxyType(
            {
                "comply": "Help fully and directly.",
                "comply_with_care": "Help fully, and add a short, relevant note on safety or accuracy.",
                "safe_alternative": (
                    "Engage with the topic at a high, educational level and meet the underlying need, "
                    "without operational steps or specifics."
                ),
                "support": (
                    "Respond to the person first: acknowledge their feelings without judgement, encourage them to "
                    "reach someone they trust or a crisis line now, and share crisis contacts; never give method "
                    "or means detail."
                ),
                "refuse_with_help": (
                    "Briefly decline the harmful part and say why in plain words, then offer a genuinely useful "
                    "safe alternative; give no operational content."
                ),
            }
        ),
        "zh": MappingProxyType(
            {
                "comply": "直接、完整地提供帮助。",
                "comply_with_care": "完整地提供帮助，并加一句简短、相关的安全或准确性提示。",
                "safe_alternative": (
                    "在宏观、科普的层面回应这个话题，满足背后的真实需求，但不给出可操作的步骤或具体细节。"
                ),
                "support": (
                    "先回应这个人：不加评判地体察对方的感受，鼓励对方现在就联系信任的人或心理危机热线，"
                    "并提供求助渠道；绝不涉及任何方法或手段细节。"
                ),
                "refuse_with_help": (
                    "简短地婉拒有害的部分，用平实的话说明原因，然后提供真正有用的安全替代方案；不给出任何可操作的内容。"
                ),
            }
        ),
    }
)


def _lang(lang: str) -> str:
    return lang if lang in _WORDING else "en"


def _colon(lang: str) -> str:
    return "：" if lang == "zh" else ": "


def render_system_prompt(chain: SafetyChain, *, strategy: Strategy, lang: str) -> str:
    """Render the system prompt that makes the generator reason along ``chain`` and reply naturally.

    The prompt shows the chain as a private plan and tells the generator never to mention it, its node names, the
    strategies or the guidelines. A chain without a risk branch renders a short prompt.

    Args:
        chain: The reasoning chain.
        strategy: The chosen strategy (described in plain words, never by its identifier).
        lang: ``en`` or ``zh``; other languages get the English prompt.

    Returns:
        The system prompt; never empty.
    """
    lang = _lang(lang)
    w = _WORDING[lang]
    sep = w.separator
    if not chain.has_risk:
        lines = [w.collapsed.format(persona=w.persona, needs=chain.needs)]
        if chain.usefulness_strategies:
            lines.append(w.collapsed_notes.format(notes=sep.join(chain.usefulness_strategies)))
        lines.append(w.reply_in)
        return ("" if lang == "zh" else " ").join(lines)
    names = NODE_NAMES[lang]
    c = _colon(lang)
    plan = [
        f"[{names.plan}]",
        f"{names.needs}{c}{chain.needs}",
        f"{names.risk_intent}{c}{chain.risk_intent}",
        f"{names.guidelines}{c.rstrip()}",
        *(f"- {g}" for g in chain.guidelines),
        f"{names.strategies}{c.rstrip()}",
    ]
    if chain.safety_strategies:
        plan.append(f"- {names.safety}{w.priority}{c}{sep.join(chain.safety_strategies)}")
    if chain.usefulness_strategies:
        plan.append(f"- {names.usefulness}{c}{sep.join(chain.usefulness_strategies)}")
    plan.append(f"{w.approach}{c}{_APPROACH[lang][strategy]}")
    plan.append(f"[{w.end_plan}]")
    rules = "\n".join(f"- {r}" for r in (*w.rules, w.reply_in))
    return f"{w.persona}{'' if lang == 'zh' else ' '}{w.think}\n\n" + "\n".join(plan) + "\n\n" + rules


def prompt_instructions(strategy: Strategy, *, lang: str) -> tuple[str, ...]:
    """The prompt's own instructions around the chain (the approach and the rules), which a reply must not copy.

    Args:
        strategy: The chosen strategy.
        lang: ``en`` or ``zh``; other languages get English.
    """
    lang = _lang(lang)
    return (_APPROACH[lang][strategy], *_WORDING[lang].rules)


def render_repair_note(problems: Sequence[str], *, lang: str) -> str:
    """Render the stricter instruction added after a draft failed its checks.

    Args:
        problems: What the new reply must fix, one short instruction each.
        lang: ``en`` or ``zh``.

    Returns:
        The note, to append to the system prompt.
    """
    w = _WORDING[_lang(lang)]
    items = "\n".join(f"- {p}" for p in problems)
    return f"{w.repair_intro}\n{items}\n{w.repair_outro}"


def render_resources_note(resources: str, *, lang: str) -> str:
    """Render the system-prompt paragraph that hands the generator the locale's crisis contacts.

    Args:
        resources: The formatted contacts.
        lang: ``en`` or ``zh``.
    """
    return _WORDING[_lang(lang)].resources_note.format(resources=resources)
