"""What a sequence does to the engine, read off its timeline before anything runs: where the burns
are, whether each is confirmed lit in time, and whether every relight respects the stand's
interlocks (chamber down below ``relight_below``, off-time, purge). The same three interlocks
are enforced again at run time by the ignition monitor (hil/safety/ignition.py).
"""

from __future__ import annotations

from hil.errors import ConfigError
from hil.sequence.expr import Expr
from hil.sequence.model import Sequence, Step
from hil.stand import StandConfig


def burn_windows(seq: Sequence, stand: StandConfig) -> list[tuple[Step, Step | None]]:
    """(start step, shutdown step) pairs from the commanded outputs along the timeline: a burn
    starts when igniter, an oxidiser and a fuel valve are all commanded open and ends when a
    propellant valve closes."""
    acts = {a.name: a for a in stand.actuators}
    state: dict[str, float] = {a: 0.0 for a in acts}
    burns: list[tuple[Step, Step | None]] = []
    start: Step | None = None

    def propellant_open(kind: str) -> bool:
        return any(state[n] > 0 for n, a in acts.items() if a.propellant == kind and a.feeds == "chamber")

    for s in seq.steps:
        if s.kind in ("set", "ramp"):
            for n, v in s.set:
                state[n] = v
        elif s.kind == "throttle" and s.position is not None and stand.throttle:
            for n in stand.throttle.actuators:
                state[n] = max(state[n], s.position)
        open_ = propellant_open("ox") and propellant_open("fuel")
        igniter = any(state[n] > 0 for n, a in acts.items() if a.kind == "igniter")
        if start is None and open_ and igniter:
            start = s
        elif start is not None and not open_:
            burns.append((start, s))
            start = None
    if start is not None:
        burns.append((start, None))
    return burns


def check_burns(seq: Sequence, stand: StandConfig, cold_flow: bool) -> list[ConfigError]:
    """Ignition confirmation after every start; purge and minimum off-time before a relight;
    no igniter in a cold-flow sequence."""
    errs: list[ConfigError] = []
    ign = stand.ignition
    acts = {a.name: a for a in stand.actuators}
    if cold_flow:
        for s in seq.steps:
            for n, v in s.set:
                if acts[n].kind == "igniter" and v > 0:
                    errs.append(ConfigError("a cold-flow sequence must not switch the igniter on",
                                            path=seq.path, key="steps.set", line=s.line))
        return errs
    burns = burn_windows(seq, stand)
    index = {id(s): i for i, s in enumerate(seq.steps)}
    for start, stop in burns:
        lo, hi = index[id(start)], index[id(stop)] if stop is not None else len(seq.steps)
        for s in seq.steps[lo:hi]:
            if s.kind == "prompt":
                errs.append(ConfigError(
                    f"prompt at T{s.at:+g} falls inside the burn that starts at T{start.at:+g}: a prompt holds the "
                    f"count with the propellants flowing; ask before the burn or between burns",
                    path=seq.path, key="steps.prompt", line=s.line))
    if not burns:
        errs.append(ConfigError("no burn in this sequence (igniter, oxidiser and fuel never all open); "
                                "set cold_flow = true in [sequence] for a cold-flow test", path=seq.path, key="sequence"))
        return errs
    for start, _ in burns:
        if ign is None:
            break
        ok = any(s.kind == "wait" and s.condition is not None and ign.channel in s.condition.names
                 and s.on_timeout == "abort" and start.at - 1e-9 <= s.at <= start.at + ign.window_s
                 and s.timeout <= ign.window_s + 1e-9 for s in seq.steps)
        if not ok:
            errs.append(ConfigError(
                f"burn starting at T{start.at:+g} has no ignition confirmation: add a wait on {ign.channel} "
                f"within {ign.window_s:g} s (timeout ≤ {ign.window_s:g} s, on_timeout = \"abort\")",
                path=seq.path, key="steps", line=start.line))
    if ign is not None:
        purge_names = [n for n, a in acts.items() if a.kind == "purge"]
        for (_, stop), (nxt, _) in zip(burns, burns[1:]):
            if stop is None:
                continue
            if not any(stop.at - 1e-9 <= s.at <= nxt.at + 1e-9 and s.kind == "wait" and s.condition is not None
                       and gates_below(s.condition, ign.channel, ign.relight_below) for s in seq.steps):
                errs.append(ConfigError(f"relight at T{nxt.at:+g}: no wait for {ign.channel} below relight_below "
                                        f"{ign.relight_below:g} since the shutdown at T{stop.at:+g} (add e.g. "
                                        f"wait = \"{ign.channel} < {ign.relight_below:g}\")", path=seq.path,
                                        key="steps", line=nxt.line))
            off = nxt.at - stop.at
            if off < ign.min_off_s - 1e-9:
                errs.append(ConfigError(f"relight at T{nxt.at:+g} only {off:g} s after shutdown at T{stop.at:+g}; "
                                        f"the stand requires ≥ {ign.min_off_s:g} s off", path=seq.path,
                                        key="steps", line=nxt.line))
            purge_time = _purge_time(seq, purge_names, stop.at, nxt.at)
            if purge_time < ign.min_purge_s - 1e-9:
                errs.append(ConfigError(f"relight at T{nxt.at:+g}: only {purge_time:g} s of purge since the shutdown "
                                        f"at T{stop.at:+g}; the stand requires ≥ {ign.min_purge_s:g} s",
                                        path=seq.path, key="steps", line=nxt.line))
    return errs


def gates_below(cond: Expr, channel: str, limit: float) -> bool:
    """True when ``cond`` can only hold with ``channel`` below ``limit``: false with the channel at
    or above it whatever the other names read, and true with everything at rest (zero)."""
    others = [n for n in cond.names if n != channel]
    if channel not in cond.names:
        return False
    for other in (0.0, 1e9, -1e9):
        for v in (limit, limit * 1.5 + 1.0):
            if cond.holds({channel: v, **dict.fromkeys(others, other)}):
                return False
    return cond.holds({channel: 0.0, **dict.fromkeys(others, 0.0)})


def _purge_time(seq: Sequence, purge_names: list[str], t0: float, t1: float) -> float:
    """Seconds of commanded purge in [t0, t1] along the timeline."""
    on_since: float | None = None
    total = 0.0
    state = False
    for s in seq.steps:
        for n, v in s.set:
            if n in purge_names:
                new = v > 0
                if new and not state:
                    on_since = s.at
                elif state and not new and on_since is not None:
                    total += max(0.0, min(s.at, t1) - max(on_since, t0))
                state = new
    if state and on_since is not None:
        total += max(0.0, t1 - max(on_since, t0))
    return total
