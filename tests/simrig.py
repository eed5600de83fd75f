"""A lockstep test rig: one Firmware, driven by writing its holding registers and reading its
input registers exactly as a Modbus master would, with values in engineering units."""

from __future__ import annotations

from pathlib import Path

from firmware_sim.faults import parse_fault
from firmware_sim.firmware import Firmware
from hil.stand import StandConfig, load_stand
from hil.stand import firmware_map as fw
from hil.stand.registers import decode


class Rig:
    def __init__(self, stand: Path | StandConfig, seed: int | None = None, faults: tuple[str, ...] = ()) -> None:
        self.stand = stand if isinstance(stand, StandConfig) else load_stand(stand)
        self.fw = Firmware(self.stand, seed=seed, faults=[parse_fault(f) for f in faults])
        self.hr = [0] * self.stand.holding_register_count
        self.heartbeat = 0

    # commands -----------------------------------------------------------------------
    def set(self, **values: float) -> None:
        for name, v in values.items():
            a = self.stand.actuator(name)
            self.hr[a.register] = int(round(v / a.scale))
        self.fw.write_holding_registers(0, self.hr)

    def beat(self) -> None:
        self.heartbeat = (self.heartbeat + 1) & 0xFFFF
        self.hr[fw.HR_HEARTBEAT] = self.heartbeat
        self.fw.write_holding_registers(0, self.hr)

    def command(self, code: int) -> tuple[int, int]:
        self.hr[fw.HR_COMMAND] = code
        self.hr[fw.HR_COMMAND_SEQ] = (self.hr[fw.HR_COMMAND_SEQ] + 1) & 0xFFFF
        self.fw.write_holding_registers(0, self.hr)
        self.fw.advance(self.fw.dt)
        regs = self.fw.read_input_registers(0, fw.IR_SYSTEM_COUNT)
        return regs[fw.IR_ACK_SEQ], regs[fw.IR_ACK_RESULT]

    # time ---------------------------------------------------------------------------
    def run(self, seconds: float, heartbeat: bool = False) -> None:
        if not heartbeat:
            self.fw.advance(seconds)
            return
        for _ in range(int(round(seconds / self.fw.dt))):
            self.beat()
            self.fw.advance(self.fw.dt)

    def run_sampling(self, seconds: float, *channels: str, heartbeat: bool = False) -> dict[str, list[float]]:
        """Advance scan by scan, reading the named channels after each (a 1 kHz DAQ log)."""
        out: dict[str, list[float]] = {c: [] for c in ("t", *channels)}
        for _ in range(int(round(seconds / self.fw.dt))):
            if heartbeat:
                self.beat()
            self.fw.advance(self.fw.dt)
            vals = self.read(*channels)
            out["t"].append(self.fw.t)
            for c in channels:
                out[c].append(vals[c])
        return out

    # readings -----------------------------------------------------------------------
    def read(self, *names: str) -> dict[str, float]:
        regs = self.fw.read_input_registers(0, self.stand.input_register_count)
        out = {}
        for n in names:
            ch = self.stand.channel(n)
            raw = decode(regs[ch.register: ch.register + ch.width], ch.type, ch.word_order)
            out[n] = float(ch.calibration.to_eng(raw))
        return out

    def value(self, name: str) -> float:
        return self.read(name)[name]

    def system(self) -> list[int]:
        return self.fw.read_input_registers(0, fw.IR_SYSTEM_COUNT)

    # a standard start ---------------------------------------------------------------
    def start(self, pct: float = 100.0, heartbeat: bool = False) -> None:
        """Igniter on, LOX lead, fuel: the stand's nominal start at ``pct`` of the design opening."""
        eng = self.fw.engine.p
        open_pct = 100.0 * eng.valve_design_opening
        names = {a.name for a in self.stand.actuators}
        if {"ox_iso", "fuel_iso"} <= names:
            self.set(ox_iso=1, fuel_iso=1)  # the run valves upstream of the mains
        self.set(igniter=1)
        self.set(ox_main=open_pct)
        if eng.pump_fed:
            self.set(gg=100.0 * eng.gg_design_opening * pct / 100.0)
        self.run(0.05, heartbeat)
        self.set(fuel_main=open_pct)

    def shutdown(self) -> None:
        """LOX first, fuel 100 ms later, igniter off, purge on."""
        self.set(ox_main=0, igniter=0)
        self.run(0.1)
        kw = {"fuel_main": 0, "purge": 1}
        if self.fw.engine.p.pump_fed:
            kw["gg"] = 0
        self.set(**kw)
