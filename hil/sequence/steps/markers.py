"""Steps that change no output: ``enable_redline`` / ``disable_redline`` (phase-gated redlines;
a stand's always-on ones cannot be disabled) and ``mark`` (a marker in the events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.sequence.steps.base import Runtime, Step
from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader


@dataclass(frozen=True, kw_only=True)
class RedlineStep(Step):
    """``enable_redline = "name"`` or ``disable_redline = ["a", "b"]``."""

    kind = "redline"
    keys = ("enable_redline", "disable_redline")

    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        t.used.add(key)
        names = t.data[key]
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            p.err(t, key, "must name a redline or a list of them")
            return None
        for n in names:
            if n not in p.redlines:
                p.err(t, key, f"no redline named {n!r} (stand or sequence)")
        if key == "enable_redline":
            return [cls(enable=tuple(names), **common)]
        return [cls(disable=tuple(names), **common)]

    def describe(self) -> str:
        parts = []
        if self.enable:
            parts.append("enable redline " + ", ".join(self.enable))
        if self.disable:
            parts.append("disable redline " + ", ".join(self.disable))
        return "; ".join(parts)

    def execute(self, run: Runtime, t: float) -> None:
        run.redlines.enable(self.enable)
        run.redlines.disable(self.disable)


@dataclass(frozen=True, kw_only=True)
class MarkStep(Step):
    """``mark = "text"``: a marker in the events (the text is the step's label)."""

    kind = "mark"
    keys = ("mark",)

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        return [cls(**{**common, "label": t.get(key, str)})]

    def describe(self) -> str:
        return self.label or self.kind

    def execute(self, run: Runtime, t: float) -> None:
        """Nothing beyond the step event every step gets."""
