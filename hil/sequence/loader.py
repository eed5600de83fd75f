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

from hil.errors import ConfigError, SequenceInvalid
from hil.sequence.burns import check_burns
from hil.sequence.model import Sequence, Step
from hil.sequence.steps import BlockRun, StepParser, parser_for, step_keys
from hil.stand import Redline, StandConfig
from hil.stand.control_tables import redline_from_table
from hil.stand.toml_table import TableReader, read_toml

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


def _step(p: StepParser, t: TableReader, at: float, origin: str = "") -> list[Step] | BlockRun | None:
    """The steps of one step table (or, for ``run``, the block insertion for the caller to
    expand); None, with the error recorded on ``p``, when the table is malformed."""
    keys = step_keys()
    kinds = [k for k in keys if k in t.data]
    line = p.ctx.line_of(t.kp + ("at",))  # the step's time line: where a reader looks for a step
    if len(kinds) != 1:
        what = "none" if not kinds else " and ".join(kinds)
        p.err(t, kinds[1] if len(kinds) > 1 else "at", f"a step needs exactly one of {', '.join(keys)} (found {what})")
        return None
    try:
        common: dict[str, Any] = {"at": at, "line": line, "label": t.get("label", str, ""), "origin": origin}
        return parser_for(kinds[0])(p, t, kinds[0], common)
    except ConfigError as exc:
        p.errors.append(exc)
        return None


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
    b = StepParser(ctx, stand, names)
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
        made = _step(b, st, at)
        if isinstance(made, BlockRun):
            block, repeat, every = made.block, made.repeat, made.every
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
                    block_steps = _step(b, bst, start + off, origin=f"{block} #{k + 1} (step at line {ctx.line_of(st.kp)})")
                    if isinstance(block_steps, list):
                        steps.extend(block_steps)
                    elif isinstance(block_steps, BlockRun) and k == 0:  # once, not once per repeat
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
