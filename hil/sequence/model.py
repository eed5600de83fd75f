"""What a loaded sequence is: a flat, time-ordered list of validated steps.

Blocks and repeats are expanded at load time, so the interpreter and ``hil check`` see exactly
the timeline that will run, each step still knowing the file line it came from. Each kind of
step is its own class (hil/sequence/steps/).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.sequence.steps import PROMPT_TIMEOUT_S, Step
from hil.stand import Redline

__all__ = ["PROMPT_TIMEOUT_S", "Sequence", "Step"]


@dataclass(frozen=True)
class Sequence:
    """A validated sequence, ready for a stand."""

    path: str
    sha256: str
    name: str
    description: str
    steps: tuple[Step, ...]
    redlines: tuple[Redline, ...] = ()
    requires_ignition: bool = True
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def prompts(self) -> tuple[Step, ...]:
        """The steps that wait for an operator's answer."""
        return tuple(s for s in self.steps if s.effect().asks_operator)

    @property
    def start_time(self) -> float:
        """Sequence time at START (the first step's time, e.g. -5.0 for T-5)."""
        return min((s.at for s in self.steps), default=0.0)

    @property
    def end_time(self) -> float:
        """Nominal time of the last step (waits and holds can push it later)."""
        return max((s.at + s.length for s in self.steps), default=0.0)
