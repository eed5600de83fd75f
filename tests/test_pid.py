"""The P&ID's layout: generated in flow order from the stand file (tank → isolation valve →
main valve → injector → chamber; the GG valve on a branch downstream of isolation; purge gas
into the chamber), or declared in the stand file and validated with located errors."""

from __future__ import annotations

import pytest
from conftest import ROOT, TQ12

from hil.errors import ConfigError
from hil.gui.pid_layout import layout
from hil.service.meta import stand_meta
from hil.stand import load_stand, parse_stand

DEVICES = ROOT / "configs" / "stands" / "sim_tq12_devices.toml"


def _flow(lay, fluid: str) -> list[list[str]]:
    return [path for f, path in lay.lines if f == fluid]


@pytest.mark.parametrize("stand_file", [TQ12, DEVICES])
def test_the_generated_p_and_id_draws_each_propellant_in_flow_order(stand_file) -> None:
    lay = layout(stand_meta(load_stand(stand_file), (), 1000.0))
    assert not lay.declared
    for prop, iso, main in (("ox", "ox_iso", "ox_main"), ("fuel", "fuel_iso", "fuel_main")):
        path = next(p for p in _flow(lay, prop) if main in p)
        assert path.index(f"{prop}_tank") < path.index(iso) < path.index(main) < path.index("injector")
        ys = [lay.items[n].y for n in path]
        assert ys == sorted(ys)  # drawn downstream: the isolation valve above the main valve
    gg = next(p for p in _flow(lay, "fuel") if "gg" in p)
    assert gg[0] == "fuel_tee" and gg[-1] == "gas_generator"  # branches off below fuel_iso
    assert next(p for p in _flow(lay, "gn2")) == ["gn2", "purge", "chamber"]
    assert {lay.items[f"pt_{c}"].channel for c in ("pc", "pc_b")} == {"pc", "pc_b"}
    assert "ox_main_pos" not in lay.loose_sensors  # a valve's feedback is shown on the valve


PID = '''
[pid]
components = [
  { name = "lox", kind = "tank", fluid = "ox", at = [80, 20], label = "LOX run tank" },
  { name = "ox_iso", kind = "valve", at = [80, 110] },
  { name = "ox_main", kind = "valve", at = [80, 200] },
  { name = "pt_inj", kind = "sensor", channel = "p_inj_ox", at = [130, 250] },
  { name = "chamber", kind = "chamber", at = [160, 330] },
]
lines = [ { fluid = "ox", path = ["lox", "ox_iso", "ox_main", "chamber"] } ]
'''


def test_a_declared_p_and_id_is_drawn_as_declared() -> None:
    stand = parse_stand(TQ12.read_text() + PID, "declared.toml")
    lay = layout(stand_meta(stand, (), 1000.0))
    assert lay.declared and lay.items["lox"].label == "LOX run tank" and lay.items["pt_inj"].channel == "p_inj_ox"
    assert lay.lines == [("ox", ["lox", "ox_iso", "ox_main", "chamber"])]
    assert "p_inj_ox" not in lay.loose_sensors and "p_inj_fuel" in lay.loose_sensors


@pytest.mark.parametrize("old, new, message", [
    ('{ name = "ox_iso", kind = "valve"', '{ name = "ox_isolation", kind = "valve"',
     "a valve component is an actuator of the stand; no actuator 'ox_isolation'"),
    ('channel = "p_inj_ox"', 'channel = "p_inj_lox"', "no channel 'p_inj_lox'"),
    ('path = ["lox", "ox_iso"', 'path = ["lox_tank", "ox_iso"', "no P&ID component named 'lox_tank'"),
    ('fluid = "ox", path', 'fluid = "lox", path', "must be one of ox, fuel, gn2, hot_gas"),
    ('at = [80, 20]', 'at = [80]', "must be [x, y]"),
])
def test_a_bad_declared_p_and_id_is_refused_with_its_line(old, new, message) -> None:
    text = TQ12.read_text() + PID
    assert old in text
    with pytest.raises(ConfigError, match="declared.toml:") as exc:
        parse_stand(text.replace(old, new, 1), "declared.toml")
    assert message in str(exc.value)
