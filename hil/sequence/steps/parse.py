"""The helpers every step kind parses with: located errors, conditions against the stand's
names, actuator tables against their ranges. One :class:`StepParser` serves a whole file and
collects every problem (file, line, key), so ``hil check`` reports them all at once."""

from __future__ import annotations

from typing import Any

from hil.errors import ConfigError, ExprError
from hil.sequence.expr import Expr, compile_expr
from hil.stand import StandConfig
from hil.stand.toml_table import SourceIndex, TableReader

VARIABLES = ("t", "pc_setpoint", "burn_time", "throttle_output")


class StepParser:
    """Validates step tables against one stand, collecting located errors."""

    def __init__(self, ctx: SourceIndex, stand: StandConfig, redline_names: set[str]) -> None:
        self.ctx = ctx
        self.stand = stand
        self.redlines = redline_names
        self.errors: list[ConfigError] = []
        self.channel_names = {c.name for c in stand.channels}
        self.actuators = {a.name: a for a in stand.actuators}

    def err(self, t: TableReader, key: str, msg: str) -> None:
        """Record a problem with ``key`` of table ``t``."""
        self.errors.append(t.error(key, msg))

    def expr(self, t: TableReader, key: str, src: Any) -> Expr | None:
        """A condition that parses and names only what the stand and the sequence know."""
        if not isinstance(src, str):
            self.err(t, key, f"must be a condition string, got {src!r}")
            return None
        try:
            e = compile_expr(src)
        except ExprError as exc:
            self.err(t, key, f"condition {src!r}: {exc}")
            return None
        for name in sorted(e.names):
            if name in self.channel_names or name in VARIABLES:
                continue
            if name.startswith("cmd.") and name[4:] in self.actuators:
                continue
            known = ", ".join(sorted(self.channel_names)[:8])
            self.err(t, key, f"condition {src!r}: unknown name {name!r} (channels: {known}, ...; "
                             f"cmd.<actuator>; {', '.join(VARIABLES)})")
        return e

    def outputs(self, t: TableReader, key: str, table: Any) -> tuple[tuple[str, float], ...]:
        """``{ actuator = value, ... }``: known actuators, numbers within their ranges."""
        if not isinstance(table, dict) or not table:
            self.err(t, key, "must be a table of actuator = value")
            return ()
        out = []
        for name, v in table.items():
            a = self.actuators.get(name)
            if a is None:
                self.err(t, key, f"unknown actuator {name!r}; the stand has {', '.join(self.actuators)}")
                continue
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                self.err(t, key, f"{name} must be a number, got {v!r}")
                continue
            if not a.range[0] <= v <= a.range[1]:
                self.err(t, key, f"{name} = {v} is outside its range [{a.range[0]:g}, {a.range[1]:g}] {a.units}")
                continue
            out.append((name, float(v)))
        return tuple(out)

    def required(self, t: TableReader, key: str, kind_key: str, default: float) -> float:
        """A positive number the step cannot do without. A missing key has no line of its own:
        the error points at the step's kind key (``ramp``, ``wait``)."""
        if key in t.data:
            return t.number(key, positive=True)
        self.errors.append(ConfigError(f"is required for a {kind_key} step", path=self.ctx.path,
                                       key=f"{t.ctx.error(t.kp + (key,), '').key}",
                                       line=self.ctx.line_of(t.kp + (kind_key,))))
        return default
