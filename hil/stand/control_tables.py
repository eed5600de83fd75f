"""The stand file's control tables — safing, redlines, throttle, ignition — validated into the
model with located errors. Kept apart from the register-map sections (hil/stand/loader.py)
because these are what the safety logic reads; the sequence loader reads redlines here too.
"""

from __future__ import annotations

import math

from hil.stand.kinds import RedlineWhen, RegisterTable
from hil.stand.model import AbortSwitch, Actuator, Channel, IgnitionConfig, Redline, SafingStep, ThrottleConfig
from hil.stand.toml_table import SourceIndex, TableReader


def safing_table(t: TableReader | None, actuators: dict[str, Actuator], ctx: SourceIndex) -> tuple[SafingStep, ...]:
    if t is None:
        raise ctx.error(("safing",), "a [safing] table is required: every exit path runs it")
    raw_steps = t.get("steps", list)
    steps: list[SafingStep] = []
    last = -1.0
    for i, item in enumerate(raw_steps):
        st = TableReader(ctx, item, t.kp + ("steps", i))
        at = st.number("at", lo=0.0, hi=600.0)
        if at < last:
            raise st.error("at", f"safing steps must be in time order ({at} after {last})")
        last = at
        sets = st.get("set", dict)
        pairs = []
        for name, value in sets.items():
            if name not in actuators:
                raise st.error("set", f"unknown actuator {name!r}")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise st.error("set", f"{name} must be set to a number, got {value!r}")
            lo, hi = actuators[name].range
            if not lo <= value <= hi:
                raise st.error("set", f"{name} = {value} is outside its range [{lo}, {hi}]")
            pairs.append((name, float(value)))
        st.done()
        steps.append(SafingStep(at, tuple(pairs)))
    t.done()
    # The sequence must leave every propellant valve and igniter at 0, or it is not safing.
    final: dict[str, float] = {}
    for s in steps:
        final.update(dict(s.set))
    for a in actuators.values():
        if (a.propellant != "none" or a.kind == "igniter") and final.get(a.name) != 0.0:
            raise ctx.error(("safing", "steps"), f"safing must end with {a.name} = 0")
    # LOX (oxidiser) first: fuel-rich shutdown. No fuel valve may close before every ox valve.
    def first_close(prop: str) -> float:
        times = [s.at_s for s in steps for n, v in s.set if v == 0.0 and actuators[n].propellant == prop]
        return min(times) if times else float("inf")
    if first_close("fuel") < max((s.at_s for s in steps for n, v in s.set
                                   if v == 0.0 and actuators[n].propellant == "ox"), default=-1.0):
        raise ctx.error(("safing", "steps"), "close the oxidiser valves before the fuel valves (fuel-rich shutdown)")
    return tuple(steps)


def redline_from_table(t: TableReader, channels: dict[str, Channel], default_enabled: bool) -> Redline:
    """Shared by stand configs and sequence files (sequence redlines start disabled)."""
    name = t.get("name", str)
    chans = t.get("channels", list) if "channels" in t.data else [t.get("channel", str)]
    t.used.update({"channel", "channels"})
    if not chans or not all(isinstance(c, str) for c in chans):
        raise t.error("channels", "must name at least one channel")
    for c in chans:
        if c not in channels:
            raise t.error("channels" if "channels" in t.data else "channel", f"names no channel: {c!r}")
    inf = math.inf
    rl = Redline(
        name=name, channels=tuple(chans),
        min=t.number("min", -inf) if "min" in t.data else -inf,
        max=t.number("max", inf) if "max" in t.data else inf,
        min_frac=t.number("min_frac", -inf, lo=0.0, hi=1.0) if "min_frac" in t.data else -inf,
        max_frac=t.number("max_frac", inf, lo=1.0, hi=10.0) if "max_frac" in t.data else inf,
        max_rate=t.number("max_rate", inf, positive=True) if "max_rate" in t.data else inf,
        settle_s=t.number("settle_s", 0.0, lo=0.0, hi=60.0),
        persistence=t.integer("persistence", 3, lo=1, hi=10000),
        when=t.enum("when", RedlineWhen, "always"),
        enabled=t.get("enabled", bool, default_enabled),
        line=t.ctx.line_of(t.kp),
        blind_after_s=t.number("blind_after_s", positive=True) if "blind_after_s" in t.data else None,
    )
    if not (math.isfinite(rl.min) or math.isfinite(rl.max) or rl.relative or math.isfinite(rl.max_rate)):
        raise t.error("name", f"redline {name!r} sets no limit (min, max, min_frac, max_frac or max_rate)")
    if math.isfinite(rl.min) and math.isfinite(rl.max) and rl.min >= rl.max:
        raise t.error("min", f"min {rl.min} must be below max {rl.max}")
    t.done()
    return rl


def throttle_table(t: TableReader | None, actuators: dict[str, Actuator]) -> ThrottleConfig | None:
    if t is None:
        return None
    acts = t.get("actuators", list)
    if not acts or not all(isinstance(a, str) and a in actuators for a in acts):
        raise t.error("actuators", f"must list existing actuators, got {acts!r}")
    for a in acts:
        if actuators[a].kind != "proportional":
            raise t.error("actuators", f"{a} is not a proportional valve")
    ff = t.get("feedforward", list)
    try:
        pts = tuple((float(x), float(y)) for x, y in ff)
    except (TypeError, ValueError):
        raise t.error("feedforward", "must be a list of [pc_fraction, output_percent] pairs") from None
    if len(pts) < 2 or any(b[0] <= a[0] for a, b in zip(pts, pts[1:])):
        raise t.error("feedforward", "needs ≥ 2 points with increasing Pc fraction")
    ratio = t.get("ratio", list, [])
    if not all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in ratio):
        raise t.error("ratio", f"must be positive numbers, got {ratio!r}")
    if len(ratio) != max(len(acts) - 1, 0) and ratio:
        raise t.error("ratio", f"one ratio per actuator after the first ({len(acts) - 1}), got {len(ratio)}")
    cfg = ThrottleConfig(actuators=tuple(acts), kp=t.number("kp", lo=0.0, hi=1e4), ki=t.number("ki", lo=0.0, hi=1e5),
                         feedforward=pts, ratio=tuple(float(r) for r in ratio) or (1.0,) * (len(acts) - 1),
                         slew=t.number("slew", 1.0, positive=True), out_slew=t.number("out_slew", 50.0, positive=True))
    t.done()
    return cfg


def ignition_table(t: TableReader | None, channels: dict[str, Channel],
                   actuators: dict[str, Actuator]) -> IgnitionConfig | None:
    if t is None:
        return None
    cfg = IgnitionConfig(channel=t.get("channel", str, "pc"), confirm_above=t.number("confirm_above"),
                         window_s=t.number("window_s", 1.5, positive=True),
                         relight_below=t.number("relight_below", 0.2),
                         min_off_s=t.number("min_off_s", 2.0, lo=0.0, hi=3600.0),
                         min_purge_s=t.number("min_purge_s", 1.0, lo=0.0, hi=3600.0),
                         flameout_s=t.number("flameout_s", 0.02, lo=0.0, hi=60.0),
                         max_open_before_confirm=_stage_openings(t, actuators),
                         stage_window_s=t.number("stage_window_s", None, positive=True),
                         igniter_channel=t.get("igniter_channel", str, None),
                         igniter_proven_above=t.number("igniter_proven_above", math.nan),
                         hard_start_rate=t.number("hard_start_rate", None, positive=True),
                         hard_start_samples=t.integer("hard_start_samples", 2, lo=1, hi=50),
                         hard_start_above=t.number("hard_start_above", None, positive=True),
                         start_transient_s=t.number("start_transient_s", 1.0, positive=True))
    if cfg.channel not in channels:
        raise t.error("channel", f"names no channel: {cfg.channel!r}")
    if cfg.igniter_channel is not None:
        if cfg.igniter_channel not in channels:
            raise t.error("igniter_channel", f"names no channel: {cfg.igniter_channel!r}")
        if math.isnan(cfg.igniter_proven_above):
            raise t.error("igniter_channel", "an igniter channel needs igniter_proven_above (the reading that "
                                             "proves the igniter lit)")
    elif not math.isnan(cfg.igniter_proven_above):
        raise t.error("igniter_proven_above", "igniter_proven_above needs an igniter_channel")
    levels = [("confirm_above", cfg.confirm_above, channels[cfg.channel]),
              ("hard_start_above", cfg.hard_start_above, channels[cfg.channel])]
    if cfg.igniter_channel is not None:
        levels.append(("igniter_proven_above", cfg.igniter_proven_above, channels[cfg.igniter_channel]))
    for key, level, ch in levels:
        # a reading above its channel's valid range is disqualified, never compared: a level the
        # range does not reach would leave the check (a trip, a confirmation, a proof) unable to act
        if level is not None and level >= ch.valid[1]:
            raise t.error(key, f"{level:g} is not below the top of channel {ch.name!r}'s valid range "
                               f"({ch.valid[1]:g} {ch.units}): no reading it accepts can pass it")
    t.done()
    return cfg


def abort_switch_table(t: TableReader | None, channels: dict[str, Channel]) -> AbortSwitch | None:
    """``[abort_switch] channel = "NAME"  active = 1``: a discrete-input channel that aborts the
    stand when it reads ``active`` (docs/safety.md, "Hardware ABORT")."""
    if t is None:
        return None
    sw = AbortSwitch(channel=t.get("channel", str), active=t.integer("active", 1, lo=0, hi=1))
    ch = channels.get(sw.channel)
    if ch is None:
        raise t.error("channel", f"names no channel: {sw.channel!r}")
    if ch.table != RegisterTable.DISCRETE:
        raise t.error("channel", f"{sw.channel!r} is read from the {ch.table.value} table; an abort switch is a "
                                 f"discrete input (table = \"discrete\")")
    t.done()
    return sw


def _stage_openings(t: TableReader, actuators: dict[str, Actuator]) -> tuple[tuple[str, float], ...]:
    """``max_open_before_confirm``: one opening (%) for every chamber propellant valve, or a
    table naming each; a valve it leaves out has no limit only if the stand gives none at all."""
    raw = t.get("max_open_before_confirm", (int, float, dict), None)
    if raw is None:
        return ()
    chamber = [a for a in actuators.values() if a.propellant in ("ox", "fuel") and a.feeds == "chamber"]
    if not chamber:
        raise t.error("max_open_before_confirm", "the stand has no chamber propellant valve (propellant = "
                                                 "\"ox\"/\"fuel\", feeds = \"chamber\") to limit")
    table = dict(raw) if isinstance(raw, dict) else dict.fromkeys((a.name for a in chamber), raw)
    out = []
    for name, value in table.items():
        a = actuators.get(name)
        if a is None or a not in chamber:
            raise t.error("max_open_before_confirm", f"{name!r} is not a chamber propellant valve of this stand "
                                                     f"(those are {', '.join(c.name for c in chamber)})")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not a.range[0] <= value < a.range[1]:
            raise t.error("max_open_before_confirm", f"{name}: the ignition-stage opening must be a number in "
                                                     f"[{a.range[0]:g}, {a.range[1]:g}) %, got {value!r}")
        out.append((name, float(value)))
    missing = [a.name for a in chamber if a.name not in table]
    if missing:
        raise t.error("max_open_before_confirm", f"no ignition-stage opening for {', '.join(missing)}: name every "
                                                 f"chamber propellant valve, or give one number for all")
    return tuple(out)
