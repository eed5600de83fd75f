"""Sequence files (TOML) → a validated :class:`Sequence` for one stand.

Sequences are reviewed like code and never executed as code: conditions go through the small
parser in :mod:`hil.sequence.expr`. Validation against the stand catches what would otherwise
surface mid-burn: unknown outputs and channels, throttle targets outside the stand's limits,
steps out of time order, a relight without purge or minimum off-time, a start without an
ignition check. Every problem names the file and the line.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from hil.errors import ConfigError, ExprError, SequenceInvalid
from hil.sequence.burns import check_burns
from hil.sequence.expr import Expr, compile_expr
from hil.sequence.model import PROMPT_TIMEOUT_S, Sequence, Step
from hil.stand import Redline, StandConfig
from hil.stand.control_tables import redline_from_table
from hil.stand.toml_table import SourceIndex, TableReader, read_toml

VARIABLES = ("t", "pc_setpoint", "burn_time", "throttle_output")
STEP_KINDS = ("set", "ramp", "wait", "hold", "throttle", "enable_redline", "disable_redline", "run", "mark", "prompt")
_TIME = re.compile(r"^\s*T\s*(?P<sign>[+-])?\s*(?P<num>\d+(?:\.\d*)?|\.\d+)?\s*$")




def parse_time(value: Any) -> float | None:
    """'T-5.0' → -5.0, 'T+2.5' → 2.5, 'T0' → 0, numbers as they are; None if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _TIME.match(value)
        if m:
            num = float(m.group("num") or 0.0)
            return -num if m.group("sign") == "-" else num
    return None


class _Builder:
    """Turns step tables into Steps, expanding blocks, collecting located errors."""

    def __init__(self, ctx: SourceIndex, stand: StandConfig, redline_names: set[str]) -> None:
        self.ctx = ctx
        self.stand = stand
        self.redlines = redline_names
        self.errors: list[ConfigError] = []
        self.channel_names = {c.name for c in stand.channels}
        self.actuators = {a.name: a for a in stand.actuators}

    def err(self, t: TableReader, key: str, msg: str) -> None:
        self.errors.append(t.error(key, msg))

    def expr(self, t: TableReader, key: str, src: Any) -> Expr | None:
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

    def step(self, t: TableReader, at: float, origin: str = "") -> list[Step] | tuple[str, int, float] | None:
        """A Step list, or for ``run`` a (block, repeat, every) tuple for the caller to expand;
        None (with the error recorded) when the step is malformed."""
        try:
            return self._step(t, at, origin)
        except ConfigError as exc:
            self.errors.append(exc)
            return None

    def _step(self, t: TableReader, at: float, origin: str = "") -> list[Step] | tuple[str, int, float] | None:
        kinds = [k for k in STEP_KINDS if k in t.data]
        line = self.ctx.line_of(t.kp + ("at",))  # the step's time line: where a reader looks for a step
        if len(kinds) != 1:
            what = "none" if not kinds else " and ".join(kinds)
            self.err(t, kinds[1] if len(kinds) > 1 else "at",
                     f"a step needs exactly one of {', '.join(STEP_KINDS)} (found {what})")
            return None
        kind = kinds[0]
        label = t.get("label", str, "")
        common: dict[str, Any] = {"at": at, "line": line, "label": label, "origin": origin}
        if kind == "set":
            t.used.add("set")
            return [Step(kind="set", set=self.outputs(t, "set", t.data["set"]), **common)]
        if kind == "ramp":
            t.used.add("ramp")
            pairs = self.outputs(t, "ramp", t.data["ramp"])
            over = t.number("over", positive=True) if "over" in t.data else self._missing(t, "over", 1.0)
            if len(pairs) > 1:
                self.err(t, "ramp", "ramp one output per step")
            for name, _ in pairs:
                if self.actuators[name].kind != "proportional":
                    self.err(t, "ramp", f"{name} is on/off: it cannot be ramped")
            return [Step(kind="ramp", set=pairs[:1], over=over, **common)]
        if kind == "wait":
            t.used.add("wait")
            cond = self.expr(t, "wait", t.data["wait"])
            timeout = t.number("timeout", positive=True) if "timeout" in t.data else self._missing(t, "timeout", 1.0)
            return [Step(kind="wait", condition=cond, timeout=timeout, hold_for=t.number("for", 0.0, lo=0.0, hi=3600.0),
                         on_timeout=t.choice("on_timeout", ("abort", "continue"), "abort"), **common)]
        if kind == "hold":
            return [Step(kind="hold", hold_for=t.number("hold", lo=0.0, hi=3600.0), **common)]
        if kind == "prompt":
            text = t.get("prompt", str).strip()
            if not text:
                self.err(t, "prompt", "must say what the operator is asked (GO/NO-GO for what)")
            return [Step(kind="prompt", prompt=text, timeout=t.number("timeout", PROMPT_TIMEOUT_S, positive=True),
                         on_timeout=t.choice("on_timeout", ("abort", "proceed"), "abort"), **common)]
        if kind == "throttle":
            return [self._throttle(t, common)]
        if kind in ("enable_redline", "disable_redline"):
            t.used.add(kind)
            names = t.data[kind]
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.err(t, kind, "must name a redline or a list of them")
                return None
            for n in names:
                if n not in self.redlines:
                    self.err(t, kind, f"no redline named {n!r} (stand or sequence)")
            key = "enable" if kind == "enable_redline" else "disable"
            gates: dict[str, Any] = {key: tuple(names)}
            return [Step(kind="redline", **gates, **common)]
        if kind == "mark":
            return [Step(kind="mark", label=t.get("mark", str), line=line, at=at, origin=origin)]
        # run
        block = t.get("run", str)
        repeat = t.integer("repeat", 1, lo=1, hi=1000)
        every = t.number("every", 0.0, lo=0.0, hi=1e5)
        return (block, repeat, every)

    def _missing(self, t: TableReader, key: str, default: float) -> float:
        # a missing key has no line of its own: point at the step kind it belongs to
        kind = next((k for k in STEP_KINDS if k in t.data), "at")
        self.errors.append(ConfigError(f"is required for a {kind} step", path=self.ctx.path,
                                       key=f"{t.ctx.error(t.kp + (key,), '').key}",
                                       line=self.ctx.line_of(t.kp + (kind,))))
        return default

    def _throttle(self, t: TableReader, common: dict[str, Any]) -> Step:
        t.used.add("throttle")
        spec = t.data["throttle"]
        if spec == "off":
            return Step(kind="throttle", throttle_off=True, **common)
        if self.stand.throttle is None:
            self.err(t, "throttle", "the stand has no [throttle] section: it cannot throttle")
            return Step(kind="throttle", throttle_off=True, **common)
        if not isinstance(spec, dict):
            self.err(t, "throttle", 'must be { pc = MPa [, slew = MPa/s] }, { position = % [, slew = %/s] } or "off"')
            return Step(kind="throttle", throttle_off=True, **common)
        sub = TableReader(self.ctx, spec, t.kp + ("throttle",))
        lim = self.stand.limits
        pc = pos = None
        if "pc" in spec:
            pc = sub.number("pc", positive=True)
            lo, hi = lim.throttle_min_pct / 100 * lim.pc_rated, lim.throttle_max_pct / 100 * lim.pc_rated
            if lim.pc_rated and not lo - 1e-9 <= pc <= hi + 1e-9:
                self.err(t, "throttle", f"Pc setpoint {pc:g} MPa is outside the stand's throttle range "
                                        f"{lim.throttle_min_pct:g}-{lim.throttle_max_pct:g} % of {lim.pc_rated:g} MPa "
                                        f"({lo:.3g}-{hi:.3g} MPa)")
        elif "position" in spec:
            pos = sub.number("position", lo=0.0, hi=100.0)
        else:
            self.err(t, "throttle", "give pc = MPa (closed loop) or position = % (open loop)")
        slew = sub.number("slew", 0.0, lo=0.0, hi=1e4)
        try:
            sub.done()
        except ConfigError as exc:
            self.errors.append(exc)
        return Step(kind="throttle", pc=pc, position=pos, slew=slew, **common)


def load_sequence(path: str | Path, stand: StandConfig) -> Sequence:
    """Read and validate a sequence file against a stand. Raises SequenceInvalid (every
    located problem) or ConfigError (the file cannot be read or parsed at all)."""
    p = Path(path)
    try:
        blob = p.read_bytes()
        text = blob.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sequence file: {exc.strerror}", path=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("sequence file is not UTF-8 text", path=str(p)) from exc
    return parse_sequence(text, stand, str(p), hashlib.sha256(blob).hexdigest())


def parse_sequence(text: str, stand: StandConfig, path: str = "<string>", sha256: str = "") -> Sequence:
    """Validate sequence TOML text (the loader's core)."""
    top = read_toml(text, path)
    ctx = top.ctx
    head = top.sub("sequence", required=True)
    assert head is not None
    name = head.get("name", str)
    description = head.get("description", str, "")
    for_stand = head.get("stand", (str, list), "")
    if isinstance(for_stand, list) and not all(isinstance(x, str) for x in for_stand):
        raise head.error("stand", "must be a stand name or a list of stand names")
    cold_flow = head.get("cold_flow", bool, False)
    head.done()
    errors: list[ConfigError] = []
    names = [for_stand] if isinstance(for_stand, str) else for_stand
    if for_stand and stand.name not in names:
        written = repr(names[0]) if len(names) == 1 else "stands " + ", ".join(repr(n) for n in names)
        errors.append(head.error("stand", f"written for {'stand ' if len(names) == 1 else ''}{written}, "
                                          f"not {stand.name!r}"))
    by_ch = {c.name: c for c in stand.channels}
    seq_redlines: list[Redline] = []
    for rt in top.array("redlines"):
        try:
            seq_redlines.append(redline_from_table(rt, by_ch, False))
        except ConfigError as exc:
            errors.append(exc)
    names = {r.name for r in stand.redlines} | {r.name for r in seq_redlines}
    b = _Builder(ctx, stand, names)
    b.errors = errors
    # blocks
    blocks: dict[str, list[tuple[TableReader, float]]] = {}
    bt = top.sub("blocks")
    if bt is not None:
        for bname in bt.data:
            bt.used.add(bname)
            sub = TableReader(ctx, bt.data[bname], ("blocks", bname))
            items = []
            for i, raw in enumerate(sub.get("steps", list)):
                st = TableReader(ctx, raw, ("blocks", bname, "steps", i))
                off = parse_time(st.data.get("at"))
                st.used.add("at")
                if off is None or off < 0:
                    b.err(st, "at", f"block step time must be a number of seconds ≥ 0 from the block start, "
                                    f"got {st.data.get('at')!r}")
                    continue
                items.append((st, off))
            sub.done()
            blocks[bname] = items
    steps: list[Step] = []
    for st in top.array("steps"):
        st.used.add("at")
        at = parse_time(st.data.get("at"))
        if at is None:
            b.err(st, "at", f"step time must look like T-5.0, T+2.5 or T0, got {st.data.get('at')!r}")
            continue
        made = b.step(st, at)
        if isinstance(made, tuple):
            block, repeat, every = made
            if block not in blocks:
                b.err(st, "run", f"no block named {block!r}; blocks: {', '.join(blocks) or 'none'}")
                continue
            length = max((off for _, off in blocks[block]), default=0.0)
            if repeat > 1 and every <= length:
                b.err(st, "every", f"repeats of {block!r} must be spaced more than its length ({length:g} s)")
            for k in range(repeat):
                start = at + k * every
                for bst, off in blocks[block]:
                    bst.used.add("at")
                    block_steps = b.step(bst, start + off, origin=f"{block} #{k + 1} (step at line {ctx.line_of(st.kp)})")
                    if isinstance(block_steps, list):
                        steps.extend(block_steps)
                    elif isinstance(block_steps, tuple) and k == 0:  # once, not once per repeat
                        b.err(bst, "run", "blocks cannot run other blocks")
        elif made:
            steps.extend(made)
        try:
            st.done()
        except ConfigError as exc:
            b.errors.append(exc)
    for items in blocks.values():
        for bst, _ in items:
            try:
                bst.done()
            except ConfigError as exc:
                if exc not in b.errors and str(exc) not in {str(e) for e in b.errors}:
                    b.errors.append(exc)
    try:
        top.done()
    except ConfigError as exc:
        b.errors.append(exc)
    if not steps and not b.errors:
        b.errors.append(ctx.error(("steps",), "a sequence needs at least one [[steps]] entry"))
    # time order
    for prev, cur in zip(steps, steps[1:]):
        if cur.at < prev.at - 1e-9:
            b.errors.append(ConfigError(f"step at T{cur.at:+g} comes after a step at T{prev.at:+g}: "
                                        f"times must not go backwards", path=path, key="steps.at", line=cur.line))
    seq = Sequence(path=path, sha256=sha256, name=name, description=description, steps=tuple(steps),
                   redlines=tuple(seq_redlines), requires_ignition=not cold_flow)
    if not b.errors:
        b.errors.extend(check_burns(seq, stand, cold_flow))
    if b.errors:
        raise SequenceInvalid(b.errors)
    return seq
