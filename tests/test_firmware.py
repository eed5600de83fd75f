"""The simulated DAQ firmware, in lockstep: watchdog, interlocks, latch and reset, command
acknowledgement, and every injected fault showing up where a controller would see it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LAB, TQ12
from simrig import Rig

from firmware_sim.faults import parse_fault
from hil.errors import FaultSpecError
from hil.stand import firmware_map as fw
from hil.stand import load_stand, parse_stand
from hil.stand.registers import decode


def u32(regs: list[int], at: int) -> int:
    return int(decode(regs[at: at + 2], "u32"))


def burning_rig(stand=TQ12, heartbeat: bool = True, **kw) -> Rig:
    rig = Rig(stand, **kw)
    rig.start(heartbeat=heartbeat)
    rig.run(1.5, heartbeat=heartbeat)
    assert rig.fw.engine.burning
    return rig


@pytest.mark.parametrize("stand", [TQ12, LAB])
def test_watchdog_safes_the_stand_within_its_configured_time(stand) -> None:
    rig = burning_rig(stand)
    wd = rig.stand.firmware.watchdog_s
    assert rig.system()[fw.IR_STATUS] & fw.Status.WATCHDOG_ENGAGED
    # the controller goes quiet mid-burn
    rig.run(wd + 0.05)
    regs = rig.system()
    assert regs[fw.IR_STATE] == fw.FwState.SAFED
    assert regs[fw.IR_TRIPS] & fw.Trip.WATCHDOG
    reaction = (u32(regs, fw.IR_TRIP_TIME_MS) - u32(regs, fw.IR_HEARTBEAT_TIME_MS)) / 1000.0
    assert wd <= reaction <= wd + 2 * rig.fw.dt, reaction
    # oxidiser commanded shut at the trip, igniter off; fuel and purge follow the safing table
    eng = rig.fw.engine
    assert eng.cmd_ox == 0.0 and not eng.igniter
    rig.run(0.2)
    assert eng.cmd_fuel == 0.0 and eng.purge
    stroke = eng.p.valve_stroke_s
    rig.run(stroke)
    assert eng.pos_ox == 0.0 and eng.pos_fuel == 0.0
    assert not eng.burning
    assert rig.value("pc") < 0.3
    # the holding registers still say "open": the firmware ignores them while latched
    assert rig.hr[rig.stand.actuator("ox_main").register] > 0
    assert eng.cmd_ox == 0.0


def test_watchdog_waits_for_a_first_heartbeat_so_plain_tools_work() -> None:
    rig = Rig(LAB)
    rig.start()
    rig.run(1.0)  # no heartbeat ever written: a person poking registers with mbpoll
    assert rig.system()[fw.IR_STATE] == fw.FwState.NORMAL
    assert rig.fw.engine.burning


def test_watchdog_always_mode_trips_without_any_heartbeat() -> None:
    text = LAB.read_text().replace('watchdog_engage = "first-heartbeat"', 'watchdog_engage = "always"')
    rig = Rig(parse_stand(text, "always.toml"))
    rig.run(0.2)
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.WATCHDOG


def test_latched_until_reset_and_reset_refused_while_commands_open() -> None:
    rig = burning_rig(LAB)
    seq, result = rig.command(fw.Command.SAFE)
    assert result == fw.AckResult.OK and seq == rig.hr[fw.HR_COMMAND_SEQ]
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.COMMANDED
    rig.run(1.0)
    # still latched with propellant commands left open: a reset must not snap valves open
    seq, result = rig.command(fw.Command.RESET)
    assert result == fw.AckResult.REFUSED_OUTPUTS_NOT_SAFE
    assert rig.system()[fw.IR_STATE] == fw.FwState.SAFED
    rig.set(ox_main=0, fuel_main=0, igniter=0, purge=0)
    seq, result = rig.command(fw.Command.RESET)
    assert result == fw.AckResult.OK
    regs = rig.system()
    assert regs[fw.IR_STATE] == fw.FwState.NORMAL and regs[fw.IR_TRIPS] == 0
    # outputs follow the holding registers again
    rig.set(purge=1)
    rig.run(0.01)
    assert rig.fw.engine.purge


def test_unknown_command_is_acknowledged_as_unknown() -> None:
    rig = Rig(LAB)
    seq, result = rig.command(99)
    assert seq == 1 and result == fw.AckResult.UNKNOWN_COMMAND


def test_heartbeat_echo_and_clock_registers() -> None:
    rig = Rig(LAB)
    rig.run(0.5, heartbeat=True)
    regs = rig.system()
    assert regs[fw.IR_HEARTBEAT_ECHO] == rig.heartbeat
    assert u32(regs, fw.IR_TIME_MS) == 500
    assert u32(regs, fw.IR_SCAN_COUNT) == 500
    assert regs[fw.IR_VERSION] == fw.FIRMWARE_VERSION


def test_overpressure_trip_on_hard_start() -> None:
    rig = Rig(LAB, faults=("late_ignition:delay=0.25@0",))
    rig.start()
    rig.run(0.6)
    regs = rig.system()
    assert regs[fw.IR_TRIPS] & fw.Trip.OVERPRESSURE
    assert regs[fw.IR_STATE] == fw.FwState.SAFED
    # it acted within the configured persistence of the limit being crossed
    limit = rig.stand.firmware.overpressure_limit
    assert rig.fw.engine.peak_pc / 1e6 > limit
    assert rig.fw.engine.cmd_ox == 0.0


@pytest.mark.parametrize("per_call", [50, 1, 2], ids=["batched", "scan-by-scan", "two-scans-a-call"])
def test_a_sustained_overpressure_trips_after_its_samples_however_the_firmware_is_scanned(per_call) -> None:
    """Mainstage above a limit set below the lab engine's 2 MPa (the start transient's own trip out
    of the way): it trips whether the scans come in one batch, one per call (real time, `hil sim`,
    and lockstep at the scan rate) or two per call (lockstep with the loop at half the scan rate).
    Scanned one by one it never tripped before (the engine counted the samples only within one
    call), and two at a time not after that first fix (the count restarted at each call's edge)."""
    scan_by_scan = per_call == 1
    text = LAB.read_text().replace("overpressure_limit = 2.6 ", "overpressure_limit = 1.5 ")
    rig = Rig(parse_stand(text.replace("overpressure_samples = 3\n", "overpressure_samples = 3\nhard_start_window_s = 0.001\n"),
                          "lab.toml"))
    rig.start()
    over = 0
    for _ in range(1000):
        rig.fw.advance(per_call * rig.fw.dt)
        over = over + 1 if rig.fw.engine.pc / 1e6 > 1.5 else 0
        if rig.fw.state == fw.FwState.SAFED:
            break
    assert rig.system()[fw.IR_TRIPS] & fw.Trip.OVERPRESSURE
    if scan_by_scan:
        assert over == rig.stand.firmware.overpressure_samples  # at the third scan above it, not later


# ------------------------------------------------------------------------------ faults

def test_ignition_failure_no_pc_rise() -> None:
    rig = Rig(LAB, faults=("ignition_failure@0",))
    rig.start()
    rig.run(1.0)
    assert rig.fw.engine.ignitions == 0
    assert rig.value("pc") < 0.3
    assert rig.value("p_inj_ox") > 0.5  # propellant is flowing unburned: what a controller sees


def test_valve_stuck_shows_in_position_feedback() -> None:
    rig = burning_rig(LAB, faults=("valve_stuck:valve=fuel_main,at=here@1.0",))
    before = rig.value("fuel_main_pos")
    rig.set(fuel_main=20, ox_main=20)
    rig.run(0.5, heartbeat=True)
    assert rig.value("ox_main_pos") == pytest.approx(20, abs=0.5)
    assert rig.value("fuel_main_pos") == pytest.approx(before, abs=0.5)
    rig2 = burning_rig(LAB, faults=("valve_stuck:valve=ox_main,at=closed@1.6",))
    rig2.run(0.5, heartbeat=True)
    assert rig2.value("ox_main_pos") < 0.5
    assert not rig2.fw.engine.burning


def test_pc_dropout_reads_below_valid_range() -> None:
    rig = burning_rig(TQ12, faults=("pc_dropout@1.6",))
    rig.run(0.2, heartbeat=True)
    ch = rig.stand.channel("pc")
    v = rig.value("pc")
    assert v < ch.valid[0]
    assert rig.value("pc_b") > 5.0  # the engine is fine; only the transducer died


def test_pc_frozen_repeats_the_same_counts() -> None:
    rig = burning_rig(TQ12, faults=("pc_frozen@1.6",))
    rig.run(0.2, heartbeat=True)
    log = rig.run_sampling(0.3, "pc", "pc_b", heartbeat=True)
    assert len(set(log["pc"])) == 1
    assert len(set(log["pc_b"])) > 50


def test_pc_drift_grows_at_its_rate() -> None:
    rig = burning_rig(TQ12, faults=("pc_drift:rate=1.0@1.6",))
    rig.run(2.0, heartbeat=True)
    log = rig.run_sampling(0.2, "pc", "pc_b", heartbeat=True)
    drift = np.mean(log["pc"]) - np.mean(log["pc_b"])
    assert drift == pytest.approx(1.0 * (rig.fw.t - 0.1 - 1.6), abs=0.1)


def test_instability_oscillates_chamber_pressure() -> None:
    calm = burning_rig(TQ12)
    calm_log = calm.run_sampling(0.3, "pc", heartbeat=True)
    rough = burning_rig(TQ12, faults=("instability:amp=0.2,hz=180@1.6",))
    rough.run(0.1, heartbeat=True)
    rough_log = rough.run_sampling(0.3, "pc", heartbeat=True)
    assert np.std(rough_log["pc"]) > 5 * np.std(calm_log["pc"])
    # the oscillation is at the injected frequency
    x = np.array(rough_log["pc"]) - np.mean(rough_log["pc"])
    freqs = np.fft.rfftfreq(len(x), d=rough.fw.dt)
    assert freqs[np.argmax(np.abs(np.fft.rfft(x)))] == pytest.approx(180, abs=5)


def test_fault_window_ends() -> None:
    rig = Rig(LAB, faults=("stop_answering@0.2+0.3", "slow_response:delay=0.02@0.1+0.1"))
    states = []
    for _ in range(8):
        rig.run(0.1)
        states.append((round(rig.fw.t, 3), rig.fw.answering, rig.fw.response_delay_s))
    assert states[0] == (0.1, True, 0.02)
    assert states[1] == (0.2, False, 0.0)
    assert states[3] == (0.4, False, 0.0)
    assert states[4] == (0.5, True, 0.0)


@pytest.mark.parametrize("spec, message", [
    ("bogus@1", "unknown fault 'bogus'"),
    ("late_ignition", "expected NAME"),
    ("late_ignition:delay=soon@1", "delay must be a number"),
    ("valve_stuck@1", "valve_stuck needs valve="),
    ("valve_stuck:valve=ox_main,at=sideways@1", "at= is open, closed, here or a position"),
    ("pc_drift:speed=1@1", "takes rate, channel, not 'speed'"),
    ("stop_answering@-1", "start time must be a finite number"),
    ("stop_answering@1+x", "duration must be a number"),
])
def test_bad_fault_specs_are_named(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message.replace("(", r"\(")):
        parse_fault(spec)


def test_valve_stuck_on_a_missing_actuator_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no actuator 'nope'"):
        Rig(load_stand(LAB), faults=("valve_stuck:valve=nope@0",)).run(0.01)
