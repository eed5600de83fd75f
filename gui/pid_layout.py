"""Where the P&ID's components go: the stand's declared layout (``[pid]``), or one generated in
flow order from what the stand file says about its valves — each propellant from its tank
through its isolation valve(s), then its main valve, to the injector and the chamber; the GG
valve on a branch of its propellant's line to the gas generator; purge gas into the chamber.
Nothing is inferred from names: sensors the file does not place are listed beside the diagram
with their live values.

Qt-free (tests check the order without a display)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FLUID_COLOURS = {"ox": "#1e88e5", "fuel": "#ef6c00", "gn2": "#757575", "hot_gas": "#c62828"}


@dataclass
class Item:
    name: str
    kind: str  # tank | valve | chamber | injector | gg | sensor | source | igniter | node
    x: float
    y: float
    fluid: str = ""
    label: str = ""
    channel: str = ""  # sensor: its channel


@dataclass
class Layout:
    items: dict[str, Item]
    lines: list[tuple[str, list[str]]]  # (fluid, component names in flow order)
    loose_sensors: list[str] = field(default_factory=list)  # channels shown in the side list
    declared: bool = False


def layout(meta: dict[str, Any]) -> Layout:
    """The declared P&ID if the stand has one, else a generated one."""
    pid = meta.get("pid")
    if pid:
        items = {c["name"]: Item(c["name"], c["kind"], c["x"], c["y"], c.get("fluid", ""), c.get("label", ""),
                                 c.get("channel", "") or (c["name"] if c["kind"] == "sensor" else ""))
                 for c in pid["components"]}
        shown = {i.channel for i in items.values() if i.kind == "sensor"}
        loose = [c["name"] for c in meta.get("channels", []) if c["name"] not in shown and not _feedback(meta, c["name"])]
        return Layout(items, [(ln["fluid"], list(ln["path"])) for ln in pid["lines"]], loose, declared=True)
    return generated(meta)


def _feedback(meta: dict[str, Any], channel: str) -> bool:
    return any(a.get("feedback") == channel for a in meta.get("actuators", []))


def generated(meta: dict[str, Any]) -> Layout:
    acts = meta.get("actuators", [])
    items: dict[str, Item] = {}
    lines: list[tuple[str, list[str]]] = []
    x_of = {"ox": 90.0, "fuel": 250.0}
    chamber_x = 170.0
    items["chamber"] = Item("chamber", "chamber", chamber_x, 400.0, label="chamber")
    items["injector"] = Item("injector", "injector", chamber_x, 330.0, label="injector")
    lines.append(("hot_gas", ["injector", "chamber"]))
    for prop, x in x_of.items():
        tank = f"{prop}_tank"
        items[tank] = Item(tank, "tank", x, 20.0, fluid=prop, label="LOX" if prop == "ox" else "fuel")
        iso = [a for a in acts if a["propellant"] == prop and a.get("feeds") == "isolation"]
        main = [a for a in acts if a["propellant"] == prop and a.get("feeds", "chamber") == "chamber"
                and a["kind"] in ("valve", "proportional")]
        path = [tank]
        y = 110.0
        for a in iso:  # several in series, upstream first as the file lists them
            items[a["name"]] = Item(a["name"], "valve", x, y, fluid=prop, label=a["name"])
            path.append(a["name"])
            y += 70.0
        tee = f"{prop}_tee"
        items[tee] = Item(tee, "node", x, max(y, 180.0), fluid=prop)
        path.append(tee)
        y = max(y, 180.0) + 70.0
        for k, a in enumerate(main):  # parallel main valves side by side
            items[a["name"]] = Item(a["name"], "valve", x + 50.0 * k, y, fluid=prop, label=a["name"])
        if main:
            for a in main:
                lines.append((prop, [*path, a["name"], "injector"]))
        else:
            lines.append((prop, [*path, "injector"]))
        gg = [a for a in acts if a["propellant"] == prop and a.get("feeds") == "gg"]
        for k, a in enumerate(gg):  # a branch off this propellant's line, downstream of isolation
            items[a["name"]] = Item(a["name"], "valve", 410.0 + 50.0 * k, y, fluid=prop, label=a["name"])
            items.setdefault("gas_generator", Item("gas_generator", "gg", 410.0, 330.0, label="GG / turbine"))
            lines.append((prop, [tee, a["name"], "gas_generator"]))
    purge = [a for a in acts if a["kind"] == "purge"]
    for k, a in enumerate(purge):
        items.setdefault("gn2", Item("gn2", "source", 40.0, 250.0, fluid="gn2", label="GN2"))
        items[a["name"]] = Item(a["name"], "valve", 40.0, 320.0 + 40.0 * k, fluid="gn2", label=a["name"])
        lines.append(("gn2", ["gn2", a["name"], "chamber"]))
    for k, a in enumerate(x for x in acts if x["kind"] == "igniter"):
        items[a["name"]] = Item(a["name"], "igniter", chamber_x - 85.0, 420.0 + 34.0 * k, label=a["name"])
    pcs = meta.get("pc_channels") or [meta.get("pc_channel", "pc")]
    names = {c["name"] for c in meta.get("channels", [])}
    for k, pc in enumerate(p for p in pcs if p in names):  # chamber pressure: its transducers on the chamber
        items[f"pt_{pc}"] = Item(f"pt_{pc}", "sensor", chamber_x + 75.0, 385.0 + 32.0 * k, channel=pc, label=pc)
    shown = {i.channel for i in items.values() if i.kind == "sensor"}
    loose = [c["name"] for c in meta.get("channels", []) if c["name"] not in shown and not _feedback(meta, c["name"])]
    return Layout(items, lines, loose)
