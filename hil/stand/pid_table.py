"""A stand's declared P&ID (``[pid]``): where each component is drawn and which lines connect
them in flow order. Without it the console generates one from the actuators' propellants and
``feeds`` (gui/pid_layout.py); a stand that knows its plumbing says so here.

    [pid]
    components = [
      { name = "lox_tank", kind = "tank", fluid = "ox", at = [80, 20], label = "LOX" },
      { name = "ox_iso", kind = "valve", at = [80, 110] },          # an actuator: live state
      { name = "pt_inj_ox", kind = "sensor", channel = "p_inj_ox", at = [130, 250] },
      { name = "chamber", kind = "chamber", at = [170, 330] },
    ]
    lines = [ { fluid = "ox", path = ["lox_tank", "ox_iso", "ox_main", "chamber"] } ]
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.stand.model import Actuator, Channel
from hil.stand.toml_table import TableReader

KINDS = ("tank", "valve", "chamber", "injector", "gg", "sensor", "source", "igniter", "node")
FLUIDS = ("ox", "fuel", "gn2", "hot_gas")


@dataclass(frozen=True)
class PidComponent:
    name: str
    kind: str
    x: float
    y: float
    fluid: str = ""
    label: str = ""
    channel: str = ""  # a sensor's channel


@dataclass(frozen=True)
class PidLine:
    fluid: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class PidLayout:
    components: tuple[PidComponent, ...]
    lines: tuple[PidLine, ...]


def pid_table(t: TableReader | None, by_ch: dict[str, Channel], by_act: dict[str, Actuator]) -> PidLayout | None:
    """Validate ``[pid]``: known kinds and fluids, a valve component names an actuator, a
    sensor a channel, names unique, every line through declared components."""
    if t is None:
        return None
    comps: list[PidComponent] = []
    for c in t.array("components"):
        name = c.get("name", str)
        kind = c.choice("kind", KINDS)
        at = c.get("at", list)
        if len(at) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in at):
            raise c.error("at", f"must be [x, y] (scene units; y grows downwards), got {at!r}")
        comp = PidComponent(name=name, kind=kind, x=at[0], y=at[1], fluid=c.choice("fluid", ("", *FLUIDS), ""),
                            label=c.get("label", str, ""), channel=c.get("channel", str, ""))
        if kind == "valve" and name not in by_act:
            raise c.error("name", f"a valve component is an actuator of the stand; no actuator {name!r}")
        if kind == "sensor" and (comp.channel or name) not in by_ch:
            raise c.error("channel", f"a sensor component shows a channel; no channel {comp.channel or name!r}")
        if any(o.name == name for o in comps):
            raise c.error("name", f"duplicate P&ID component {name!r}")
        c.done()
        comps.append(comp)
    names = {c.name for c in comps}
    lines: list[PidLine] = []
    for ln in t.array("lines"):
        fluid = ln.choice("fluid", FLUIDS)
        path = ln.get("path", list)
        if len(path) < 2 or not all(isinstance(p, str) for p in path):
            raise ln.error("path", "a line goes through at least two components, by name")
        unknown = [p for p in path if p not in names]
        if unknown:
            raise ln.error("path", f"no P&ID component named {', '.join(map(repr, unknown))}")
        ln.done()
        lines.append(PidLine(fluid, tuple(path)))
    t.done()
    if not comps:
        raise t.error("components", "a declared P&ID needs components")
    return PidLayout(tuple(comps), tuple(lines))
