"""The simulated igniter (issue 24): a spark torch with its own proof (its chamber pressure,
served on the ``p_ign`` channel of both shipped simulated stands), the main chamber lit only
from a lit igniter, and the fault ``igniter_failure``: the torch never lights, so neither its
pressure nor the main chamber rises whatever flows."""

from __future__ import annotations

import pytest
from conftest import LAB, TQ12
from simrig import Rig

from hil.stand import load_stand


@pytest.mark.parametrize("stand", [LAB, TQ12, LAB.parent / "sim_tq12_devices.toml"])
def test_every_shipped_simulated_stand_serves_the_igniter_proof(stand) -> None:
    st = load_stand(stand)
    assert st.channel("p_ign").source == "p_igniter"


@pytest.mark.parametrize("stand", [LAB, TQ12])
def test_the_igniter_proves_itself_before_any_propellant_flows(stand) -> None:
    rig = Rig(stand)
    p = rig.fw.engine.p
    rig.run(0.1)
    assert rig.value("p_ign") < 0.2  # ambient
    rig.set(igniter=1)
    rig.run(p.igniter_light_s - 0.005)
    assert rig.value("p_ign") < 0.2  # not lit yet
    rig.run(0.005 + 5 * p.tau_igniter_s)
    assert rig.value("p_ign") == pytest.approx(p.igniter_pc / 1e6, rel=0.03)
    assert rig.fw.engine.ignitions == 0 and rig.fw.engine.mdot_ox == 0.0  # the proof needs no propellant
    rig.set(igniter=0)
    rig.run(0.01)
    assert rig.value("p_ign") < 0.2


def test_igniter_failure_never_lights_the_torch_nor_the_chamber() -> None:
    rig = Rig(LAB, faults=("igniter_failure@0",))
    rig.start()
    log = rig.run_sampling(0.5, "p_ign", "pc")
    assert max(log["p_ign"]) < 0.2
    assert rig.fw.engine.ignitions == 0 and max(log["pc"]) < 0.3
    assert rig.fw.engine.mdot_ox > 0.3  # propellant flowed (the stand, not the plant, must stop that)


def test_the_main_chamber_lights_only_from_a_lit_igniter() -> None:
    """Propellant flowing first and the igniter switched on late: ignition waits for the torch
    to light (igniter_light_s) and then the main ignition delay, not the delay alone."""
    rig = Rig(LAB)
    p = rig.fw.engine.p
    rig.set(ox_main=50)
    rig.run(0.05)
    rig.set(fuel_main=50)
    rig.run(0.1)
    assert rig.fw.engine.ignitions == 0
    rig.set(igniter=1)
    rig.run(p.igniter_light_s + p.ignition_delay_s - 0.004)
    assert rig.fw.engine.ignitions == 0
    rig.run(0.006)
    assert rig.fw.engine.ignitions == 1
