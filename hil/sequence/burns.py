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
    starts when an oxidiser and a fuel valve of the chamber are both commanded open, igniter or
    not (unlit flow is a burn attempt too), and ends when a propellant valve closes."""
    acts = {a.name: a for a in stand.actuators}
    state: dict[str, float] = {a: 0.0 for a in acts}
    burns: list[tuple[Step, Step | None]] = []
    start: Step | None = None

    def propellant_open(kind: str) -> bool:
        return any(state[n] > 0 for n, a in acts.items() if a.propellant == kind and a.feeds == "chamber")

    for s in seq.steps:
        eff = s.effect()
        for n, v in eff.sets:
            state[n] = v
        if eff.throttle_position is not None and stand.throttle:
            for n in stand.throttle.actuators:
                state[n] = max(state[n], eff.throttle_position)
        open_ = propellant_open("ox") and propellant_open("fuel")
        if start is None and open_:
            start = s
        elif start is not None and not open_:
            burns.append((start, s))
            start = None
    if start is not None:
        burns.append((start, None))
    return burns


def check_burns(seq: Sequence, stand: StandConfig, cold_flow: bool) -> list[ConfigError]:
    """Ignition confirmation after every start; purge and minimum off-time before a relight;
    no igniter in a cold-flow sequence; the staged start (:func:`check_staged_start`)."""
    errs: list[ConfigError] = []
    ign = stand.ignition
    acts = {a.name: a for a in stand.actuators}
    if cold_flow:
        for s in seq.steps:
            for n, v in s.effect().sets:
                if acts[n].kind == "igniter" and v > 0:
                    errs.append(ConfigError("a cold-flow sequence must not switch the igniter on",
                                            path=seq.path, key="steps.set", line=s.line))
        return errs
    errs.extend(check_staged_start(seq, stand))
    burns = burn_windows(seq, stand)
    index = {id(s): i for i, s in enumerate(seq.steps)}
    for start, stop in burns:
        lo, hi = index[id(start)], index[id(stop)] if stop is not None else len(seq.steps)
        for s in seq.steps[lo:hi]:
            if s.effect().asks_operator:
                errs.append(ConfigError(
                    f"prompt at T{s.at:+g} falls inside the burn that starts at T{start.at:+g}: a prompt holds the "
                    f"count with the propellants flowing; ask before the burn or between burns",
                    path=seq.path, key="steps.prompt", line=s.line))
    if not burns:
        errs.append(ConfigError("no burn in this sequence (oxidiser and fuel never both open); "
                                "set cold_flow = true in [sequence] for a cold-flow test", path=seq.path, key="sequence"))
        return errs
    gates = [(s, s.effect().gate) for s in seq.steps]
    for start, _ in burns:
        if ign is None:
            break
        ok = any(g is not None and ign.channel in g.condition.names and g.aborts
                 and start.at - 1e-9 <= s.at <= start.at + ign.window_s and g.timeout <= ign.window_s + 1e-9
                 for s, g in gates)
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
            if not any(stop.at - 1e-9 <= s.at <= nxt.at + 1e-9 and g is not None
                       and gates_below(g.condition, ign.channel, ign.relight_below) for s, g in gates):
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


def check_staged_start(seq: Sequence, stand: StandConfig) -> list[ConfigError]:
    """The run-time start interlocks (hil/safety/start.py) on the timeline: until a wait
    confirms ignition, no chamber propellant valve opens further than ``max_open_before_confirm``
    (a ramp by its target, a closed-loop throttle on those valves not at all); with an
    ``igniter_channel``, none opens before a wait that proves the igniter; and the confirmation
    wait cannot outlast ``stage_window_s`` from the first valve opening."""
    ign = stand.ignition
    if ign is None:
        return []
    acts = {a.name: a for a in stand.actuators}
    valves = [n for n, a in acts.items() if a.propellant in ("ox", "fuel") and a.feeds == "chamber"]
    igniters = [n for n, a in acts.items() if a.kind == "igniter"]
    limits = dict(ign.max_open_before_confirm)
    throttled = set(stand.throttle.actuators) & set(valves) if stand.throttle else set()
    throttled_in_order = [n for n in stand.throttle.actuators if n in throttled] if stand.throttle else []
    state = dict.fromkeys(valves, 0.0)
    confirmed = proven = False
    first_open: Step | None = None
    errs: list[ConfigError] = []

    def err(s: Step, msg: str) -> None:
        errs.append(ConfigError(f"T{s.at:+g}: {msg}", path=seq.path, key="steps", line=s.line))

    for s in seq.steps:
        eff = s.effect()
        g = eff.gate
        if g is not None and g.aborts:
            if ign.igniter_channel and gates_above(g.condition, ign.igniter_channel, ign.igniter_proven_above):
                proven = True
            if first_open is not None and not confirmed and gates_above(g.condition, ign.channel, ign.confirm_above):
                confirmed = True
                end = s.at + g.timeout
                if ign.stage_window_s is not None and end > first_open.at + ign.stage_window_s + 1e-9:
                    err(s, f"the ignition confirmation may wait until T{end:+g}, beyond stage_window_s "
                           f"{ign.stage_window_s:g} s from the first chamber propellant valve opening at "
                           f"T{first_open.at:+g} (line {first_open.line})")
            continue
        changes = list(eff.sets)
        if eff.closed_loop and throttled and not confirmed:
            err(s, f"closed-loop throttle on {', '.join(sorted(throttled))} before ignition is confirmed: the "
                   f"loop would open them beyond the ignition stage")
        if eff.throttle_position is not None:
            changes = [(n, eff.throttle_position) for n in throttled_in_order]
        for n, v in changes:
            if n in igniters and v <= 0:
                proven = False
            if n not in state:
                continue
            if v > state[n] + 1e-9 and not confirmed:
                lim = limits.get(n)
                if lim is not None and v > lim + 1e-9:
                    err(s, f"{n} opened to {v:g} % before ignition is confirmed; the stand's ignition stage "
                           f"allows {lim:g} % (max_open_before_confirm)")
                if ign.igniter_channel and not proven:
                    err(s, f"{n} opened before the igniter is proven: wait for {ign.igniter_channel} > "
                           f"{ign.igniter_proven_above:g} (on_timeout = \"abort\") first")
            if v > 0 and first_open is None:
                first_open = s
            state[n] = v
        if not any(v > 0 for v in state.values()):
            first_open, confirmed = None, False
    return errs


def gates_above(cond: Expr, channel: str, limit: float) -> bool:
    """True when ``cond`` can only hold with ``channel`` above ``limit`` (false with the channel
    at the limit whatever the other names read) and does hold with everything well above it."""
    if channel not in cond.names:
        return False
    others = [n for n in cond.names if n != channel]
    for other in (0.0, 1e9, -1e9):
        if cond.holds({channel: limit, **dict.fromkeys(others, other)}):
            return False
    big = abs(limit) * 10 + 1e6
    return cond.holds({channel: big, **dict.fromkeys(others, big)})


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
        for n, v in s.effect().sets:
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
