"""``prompt``: a GO/NO-GO question to the operator. Sequence time stands still until an answer
(PROCEED: the count goes on; ABORT: the run is aborted) or the timeout (abort, or proceed where
the file says so). The interpreter takes the answers (``Sequencer.answer``); the step decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hil.sequence.steps.base import Effect, Pending, Poll, Runtime, Step
from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader

if TYPE_CHECKING:
    from hil.cycle import CycleState

PROMPT_TIMEOUT_S = 300.0  # a prompt nobody answers: on_timeout (abort unless the file says proceed) after this


@dataclass(frozen=True, kw_only=True)
class PromptStep(Step):
    """``prompt = "question"``, ``timeout = s`` (default 300), ``on_timeout = "abort" | "proceed"``."""

    kind = "prompt"
    keys = ("prompt",)

    prompt: str = ""  # the question put to the operator
    timeout: float = PROMPT_TIMEOUT_S
    on_timeout: str = "abort"  # abort | proceed

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        text = t.get(key, str).strip()
        if not text:
            p.err(t, key, "must say what the operator is asked (GO/NO-GO for what)")
        return [cls(prompt=text, timeout=t.number("timeout", PROMPT_TIMEOUT_S, positive=True),
                    on_timeout=t.choice("on_timeout", ("abort", "proceed"), "abort"), **common)]

    def describe(self) -> str:
        return f"prompt \"{self.prompt}\" (PROCEED or ABORT; timeout {self.timeout:g} s → {self.on_timeout})"

    def effect(self) -> Effect:
        return Effect(asks_operator=True)

    def question(self) -> dict[str, Any] | None:
        return {"text": self.prompt, "line": self.line, "timeout_s": self.timeout, "on_timeout": self.on_timeout}

    def execute(self, run: Runtime, t: float) -> None:
        pending = run.block(self, t)
        run.events(t, "prompt", index=pending.index, text=self.prompt, line=self.line, timeout_s=self.timeout,
                   on_timeout=self.on_timeout, t_seq=round(run.seq_t, 4))

    def poll(self, run: Runtime, pending: Pending, cs: CycleState) -> Poll:
        """Over once answered PROCEED (or timed out with on_timeout = proceed); an ABORT, or a
        timeout that aborts, aborts the run."""
        t = cs.t
        waited = round(t - pending.started, 4)
        given = run.take_answer()
        if given is not None:
            answer, client = given
            run.events(t, "prompt_answered", index=pending.index, answer=answer, client=client, waited_s=waited,
                       text=self.prompt)
            if answer == "abort":
                run.supervisor.abort(t, f"operator answered ABORT to prompt {self.prompt!r} (line {self.line}, "
                                        f"{client})", source="prompt")
                return Poll.STOP
            return Poll.PROCEED
        if t - pending.started + 1e-9 < self.timeout:
            return Poll.WAITING
        run.events(t, "prompt_timeout", index=pending.index, text=self.prompt, waited_s=waited, then=self.on_timeout)
        if self.on_timeout == "abort":
            run.supervisor.abort(t, f"no answer to prompt {self.prompt!r} within {self.timeout:g} s (line {self.line})",
                                 source="prompt")
            return Poll.STOP
        return Poll.PROCEED
