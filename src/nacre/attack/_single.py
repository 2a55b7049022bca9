"""Transform attacks: a Strata-Sword converter applied to the goal, sent as is (no attacker model)."""

from __future__ import annotations

from typing import ClassVar

from nacre.attack._context import AttackContext, AttackOptions, account, report_score
from nacre.attack._multiround import attempt_seed
from nacre.attack._types import AttemptResult, Exchange, Outcome, UsageLedger
from nacre.attack.transforms import Transform
from nacre.conversation import Conversation, Message
from nacre.datasets import Goal
from nacre.errors import ModelError


class TransformAttack:
    """Send the goal through one transform; multi-turn transforms send their turns one by one.

    Args:
        transform: The converter.
        options: Only ``seed`` and ``language`` apply.
    """

    needs_attacker: ClassVar[bool] = False

    def __init__(self, transform: Transform, options: AttackOptions | None = None) -> None:
        self.transform = transform
        self.options = options or AttackOptions()
        self.name = transform.name
        self.description = transform.description
        self.multi_turn = transform.multi_turn
        self.tags = ("transform", f"strata-sword-l{transform.level}", *transform.tags)

    async def run(self, goal: Goal, ctx: AttackContext, *, attempt: int = 0) -> AttemptResult:
        """Apply the transform (seeded per attempt), send it, judge the last reply against the original goal."""
        seed = attempt_seed(self.options.seed, goal.id, attempt)
        prompt = self.transform.apply(goal.text, seed=seed, language=self.options.language or goal.language)
        ledger = UsageLedger()
        exchanges: list[Exchange] = []
        history: list[Message] = []
        error: str | None = None
        for t, turn in enumerate(prompt.turns, 1):
            try:
                reply = await ctx.target.send(Conversation((*history, Message.user(turn))))
            except ModelError as exc:
                ledger.failure("target")
                error = str(exc)
                break
            ledger.record("target", reply.completion)
            _refused, verdict = await ctx.refusal.is_refusal(turn, reply.text)
            account(ledger, verdict)
            history += [Message.user(turn), Message.assistant(reply.text)]
            exchange = Exchange(
                t=t,
                query=turn,
                response=reply.text,
                kept=True,
                technique=self.name,
                refusal=verdict.value,
                refusal_label=verdict.label,
                note=verdict.explanation[:200],
            )
            exchanges.append(exchange)
            if ctx.on_exchange is not None:
                await ctx.on_exchange(exchange, [verdict])
        final = None
        if error is None and history:
            final = await ctx.final.judge(goal.text, history[-1].text, conversation=Conversation(tuple(history)))
            await report_score(ctx, ledger, final)
        outcome = (
            Outcome.FAIL_ERROR
            if error is not None
            else Outcome.SUCCESS
            if final is not None and final.label == "success"
            else Outcome.JUDGE_ERROR
            if final is not None and final.label == "error"
            else Outcome.FAIL_BUDGET
        )
        return AttemptResult(
            key=f"{goal.id}#{attempt}",
            goal_id=goal.id,
            goal=goal.text,
            category=goal.category,
            method=self.name,
            attempt=attempt,
            outcome=outcome,
            success_turn=len(exchanges) if outcome is Outcome.SUCCESS else None,
            plan_index=0,
            exchanges=tuple(exchanges),
            final_score=final.value if final is not None else None,
            final_label=final.label if final is not None else None,
            final_explanation=final.explanation if final is not None else "",
            techniques=(self.name,),
            backtracks=0,
            attacker_refusals=0,
            usage=ledger,
            error=error,
            extra={"transform": {"method": prompt.method, "seed": prompt.seed, "language": prompt.language}},
        )
