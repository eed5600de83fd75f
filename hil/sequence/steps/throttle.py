"""``throttle``: closed-loop chamber pressure (``{ pc = MPa, slew = MPa/s }``), an open-loop
output (``{ position = %, slew = %/s }``) or ``"off"`` (release the outputs where they are), on
the stand's ``[throttle]`` section; a Pc setpoint is checked against the stand's throttle range."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hil.errors import ConfigError
from hil.sequence.steps.base import Effect, Runtime, Step
from hil.sequence.steps.parse import StepParser
from hil.stand.toml_table import TableReader


@dataclass(frozen=True, kw_only=True)
class ThrottleStep(Step):
    """Exactly one of ``pc`` (closed loop), ``position`` (open loop) or ``off``."""

    kind = "throttle"
    keys = ("throttle",)

    pc: float | None = None  # closed-loop Pc setpoint (MPa)
    position: float | None = None  # open-loop output (%)
    slew: float = 0.0  # MPa/s or %/s; 0: the stand's default
    off: bool = False

    @classmethod
    def parse(cls, p: StepParser, t: TableReader, key: str, common: dict[str, Any]) -> list[Step] | None:
        t.used.add(key)
        spec = t.data[key]
        if spec == "off":
            return [cls(off=True, **common)]
        if p.stand.throttle is None:
            p.err(t, key, "the stand has no [throttle] section: it cannot throttle")
            return [cls(off=True, **common)]
        if not isinstance(spec, dict):
            p.err(t, key, 'must be { pc = MPa [, slew = MPa/s] }, { position = % [, slew = %/s] } or "off"')
            return [cls(off=True, **common)]
        sub = TableReader(p.ctx, spec, t.kp + (key,))
        lim = p.stand.limits
        pc = pos = None
        if "pc" in spec:
            pc = sub.number("pc", positive=True)
            lo, hi = lim.throttle_min_pct / 100 * lim.pc_rated, lim.throttle_max_pct / 100 * lim.pc_rated
            if lim.pc_rated and not lo - 1e-9 <= pc <= hi + 1e-9:
                p.err(t, key, f"Pc setpoint {pc:g} MPa is outside the stand's throttle range "
                              f"{lim.throttle_min_pct:g}-{lim.throttle_max_pct:g} % of {lim.pc_rated:g} MPa "
                              f"({lo:.3g}-{hi:.3g} MPa)")
        elif "position" in spec:
            pos = sub.number("position", lo=0.0, hi=100.0)
        else:
            p.err(t, key, "give pc = MPa (closed loop) or position = % (open loop)")
        slew = sub.number("slew", 0.0, lo=0.0, hi=1e4)
        try:
            sub.done()
        except ConfigError as exc:
            p.errors.append(exc)
        return [cls(pc=pc, position=pos, slew=slew, **common)]

    def describe(self) -> str:
        if self.off:
            return "throttle off (outputs stay where they are)"
        if self.pc is not None:
            return f"throttle to Pc {self.pc:g} MPa (closed loop" + (f", slew {self.slew:g} MPa/s)" if self.slew else ")")
        return f"throttle output to {self.position:g} % (open loop" + (f", slew {self.slew:g} %/s)" if self.slew else ")")

    def effect(self) -> Effect:
        return Effect(throttle_position=self.position, closed_loop=self.pc is not None)

    def execute(self, run: Runtime, t: float) -> None:
        thr = run.throttle
        if thr is None:
            return
        if self.off:
            thr.release()
        elif self.pc is not None:
            thr.command_pc(t, run.commands, self.pc, self.slew)
        elif self.position is not None:
            thr.command_position(t, run.commands, self.position, self.slew)
