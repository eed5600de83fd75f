"""The simulated stand firmware: scan loop, register image, heartbeat watchdog, overpressure
interlock, latched safing and command acknowledgement (protocol hil-stand-1).

It behaves the way real stand firmware should, independent of any controller: if the
controller dies or goes quiet, the watchdog safes the stand on its own; a latched safing
state survives until someone deliberately resets it with the outputs commanded safe.

Thread model: the Modbus server (asyncio thread) and the real-time scan thread share one
``Firmware``; every public method takes ``self.lock``. In lockstep there is one thread and
the lock is uncontended.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable

from firmware_sim.engine import Engine, engine_params
from firmware_sim.faces import Face, OutputCommands, build_faces, sample, system_block
from firmware_sim.faults import Fault, check_for_stand, set_fault
from firmware_sim.lateness import Lateness
from firmware_sim.sensors import Sensor, noise_source
from firmware_sim.trip import HardStartSeen, HardStartTrip
from firmware_sim.watchdogs import plain_watchdogs
from hil.stand import Actuator, FirmwareConfig, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.kinds import WatchdogEngage

_PLANT_ATTR = {"ox_valve": "cmd_ox", "fuel_valve": "cmd_fuel", "gg_valve": "cmd_gg", "ox_iso": "cmd_ox_iso",
               "fuel_iso": "cmd_fuel_iso"}


class Firmware:
    """One simulated stand: engine plant + DAQ firmware + register image."""

    def __init__(self, stand: StandConfig, seed: int | None = None, faults: Iterable[Fault] = ()) -> None:
        if stand.sim is None:
            raise ValueError(f"{stand.path}: not a simulated stand (no [sim] table)")
        self.stand = stand
        self.cfg: FirmwareConfig = stand.firmware or FirmwareConfig(watchdog_engage=WatchdogEngage.NEVER)
        self.dt = 1.0 / self.cfg.scan_hz
        self.engine = Engine(engine_params(stand.sim.engine, stand.sim.overrides), dt=self.dt)
        self.seed = stand.sim.seed if seed is None else seed
        noise = noise_source(self.seed)
        self.lock = threading.RLock()
        # the igniter's proof draws its own noise, so adding it left every other channel's noise
        # (and every seed's recorded run) as it was
        ign_noise = noise_source(self.seed + 1)
        self.sensors = [Sensor(ch, ign_noise if ch.source == "p_igniter" else noise, stand.sim.noise_scale)
                        for ch in stand.channels]
        self.by_name = {s.ch.name: s for s in self.sensors}
        # the hard-wired hard-start trip reads its own sample of the Pc transducer (own noise draw)
        self.hard_start = HardStartTrip(stand, self.cfg, self.by_name, noise_source(self.seed + 2), stand.sim.noise_scale)
        self.faces: dict[str, Face] = build_faces(stand, self.sensors)
        self.first = stand.devices[0].name
        self.fw_face: Face | None = self.faces[stand.firmware_device] if stand.firmware_device else None
        self.plain_watchdogs = [f for f in self.faces.values() if f.heartbeat is not None]
        self.actuators: tuple[Actuator, ...] = stand.actuators
        self.commanded = OutputCommands(stand.actuators, self.faces)
        # firmware state
        self.state = fw.FwState.NORMAL
        self.trips = 0
        self.scans = 0
        self.hb_seen = False
        self.hb_last_t = 0.0
        self.ack_seq = 0
        self.ack_result = 0
        self.safing_t0 = 0.0
        self.safing_next = 0
        self.outputs: dict[str, float] = {a.name: 0.0 for a in self.actuators}
        self._cmd_dirty = True
        self.output_change_t = 0.0
        self._pending_cmd: tuple[int, int] | None = None
        self._op_limit = math.inf
        self._op_over = 0  # consecutive scans with Pc above it
        if self.cfg.overpressure_channel:
            ch = stand.channel(self.cfg.overpressure_channel)
            if ch.source != "pc":
                raise ValueError("the firmware's overpressure interlock reads the chamber-pressure transducer (source 'pc')")
            self._op_limit = self.cfg.overpressure_limit * 1e6  # MPa -> Pa
        if stand.abort_switch is not None:  # the hardware ABORT button, released
            self.engine.abort_switch = float(1 - stand.abort_switch.active)
        # faults
        self.faults: list[Fault] = sorted(faults, key=lambda f: f.start_s)
        check_for_stand(self.faults, stand)
        self._active: set[int] = set()
        self._ended: set[int] = set()
        self.response_delay_s = 0.0
        self.answering = True
        self.exception_code = 0  # non-zero: every request gets this Modbus exception
        self.silent: set[str] = set()  # devices that stopped answering (the others still do)
        self.exceptions: dict[str, int] = {}  # device -> exception code it answers with
        self.delays: dict[str, float] = {}  # device -> extra response delay
        self.late: dict[str, float] = {}  # device -> silence after each answer (device_late)
        self._late_until: dict[str, float] = {}
        self.crc_error_rate = 0.0
        self.garbage_rate = 0.0
        self.garbage_bytes = 0
        self.wire_rng = random.Random(self.seed * 7919 + 1)
        self.wire_corrupted = 0
        self.events: list[tuple[float, str]] = []  # (sim time, what) for tests and the console
        self._update_faults()  # a fault from t = 0 is there for the very first request
        self.scan_lateness = Lateness()
        # real time only (run_realtime): inputs served from a per-scan image; lockstep samples
        # on request (the controller and the plant share one clock there)
        self.double_buffer = False
        self._images: dict[tuple[str, str], tuple[int, list[int]]] = {}

    # ------------------------------------------------------------------ register access

    @property
    def t(self) -> float:
        """Simulator clock, seconds since boot."""
        return self.engine.t

    @property
    def holding(self) -> list[int]:
        """The first device's holding registers (the only device of a single-device stand)."""
        return self.faces[self.first].holding

    def answers(self, device: str) -> bool:
        """Whether a device answers this request (stop_answering, device_silent; a late device
        answers, then stays silent for its lateness)."""
        if not self.answering or device in self.silent:
            return False
        late = self.late.get(device)
        if late is not None:
            t = self.engine.t
            if t < self._late_until.get(device, -math.inf):
                return False
            self._late_until[device] = t + late
        return True

    def exception_for(self, device: str) -> int:
        """The Modbus exception a device answers every request with now (0: none)."""
        return self.exceptions.get(device, self.exception_code)

    def delay_for(self, device: str) -> float:
        """How late a device's answers are now (slow_response)."""
        return self.delays.get(device, self.response_delay_s)

    def ok(self, device: str, table: str, address: int, count: int) -> bool:
        """Whether an access stays inside a device's table."""
        return self.faces[device].ok(table, address, count)

    def read(self, device: str, table: str, address: int, count: int) -> list[int]:
        """One read of a device's table: inputs sampled now (in real time: the image of the
        current scan), outputs as last written."""
        if self.double_buffer and table in ("input", "discrete"):
            return self._scan_image(device, table)[address : address + count]
        with self.lock:
            face = self.faces[device]
            if table == "holding":
                return face.holding[address : address + count]
            if table == "coil":
                return face.coils[address : address + count]
            system = self._system_block() if face is self.fw_face else None
            return sample(face, table, address, count, self.engine, system)

    def _scan_image(self, device: str, table: str) -> list[int]:
        """A device's whole input table as of the current scan, built once per scan (on the
        first request of that scan, under the lock) and then only handed out by reference:
        every request is served from one complete image, and the registers change between
        scans, never during a request — what DAQ firmware does by double-buffering."""
        cached = self._images.get((device, table))
        if cached is not None and cached[0] == self.scans:
            return cached[1]
        with self.lock:
            face = self.faces[device]
            system = self._system_block() if face is self.fw_face else None
            image = sample(face, table, 0, face.sizes[table], self.engine, system)
            self._images[device, table] = (self.scans, image)  # one reference swap publishes it
        return image

    def write(self, device: str, table: str, address: int, values: list[int]) -> None:
        """Outputs from the controller. Heartbeats are time-stamped on arrival, to the simulator
        clock; a change to an output is decoded by the next scan."""
        with self.lock:
            face = self.faces[device]
            values = [int(v) & 0xFFFF for v in values]
            if table == "coil":
                values = [1 if v else 0 for v in values]
                if face.coils[address : address + len(values)] != values:
                    self._cmd_dirty = True
                    self.output_change_t = self.engine.t
                face.coils[address : address + len(values)] = values
                return
            hr = face.holding
            end = address + len(values)
            lo = address
            if face is self.fw_face:
                if address <= fw.HR_HEARTBEAT < end and values[fw.HR_HEARTBEAT - address] != hr[fw.HR_HEARTBEAT]:
                    self.hb_last_t = self.engine.t
                    self.hb_seen = True
                if address <= fw.HR_COMMAND_SEQ < end and values[fw.HR_COMMAND_SEQ - address] != hr[fw.HR_COMMAND_SEQ]:
                    cmd = values[fw.HR_COMMAND - address] if address <= fw.HR_COMMAND < end else hr[fw.HR_COMMAND]
                    self._pending_cmd = (cmd, values[fw.HR_COMMAND_SEQ - address])
                lo = max(address, fw.HR_SYSTEM_COUNT)  # the heartbeat changes every cycle; only outputs matter
            hb = face.heartbeat
            if hb is not None and address <= hb.register < end and values[hb.register - address] != hr[hb.register]:
                face.hb_last_t, face.hb_seen = self.engine.t, True
                if hb.echo is not None and hb.echo_table == "holding":
                    hr[hb.echo] = values[hb.register - address]
            if hr[lo:end] != values[lo - address :]:
                self._cmd_dirty = True
                self.output_change_t = self.engine.t
            hr[address:end] = values

    # the first device, for tools and tests written against a single-device stand
    def read_input_registers(self, address: int, count: int) -> list[int]:
        return self.read(self.first, "input", address, count)

    def write_holding_registers(self, address: int, values: list[int]) -> None:
        self.write(self.first, "holding", address, values)

    def _system_block(self) -> list[int]:
        return system_block(self)

    # ------------------------------------------------------------------ interlocks

    @property
    def watchdog_engaged(self) -> bool:
        """The watchdog guards the stand only once a controller has shown a heartbeat
        (default), so a person with a plain Modbus tool can still drive the simulator."""
        mode = self.cfg.watchdog_engage
        if mode == "never" or self.stand.firmware is None:
            return False
        return mode == "always" or self.hb_seen

    def trip(self, why: fw.Trip) -> None:
        """Latch SAFED and start the stand's safing sequence (idempotent while latched)."""
        with self.lock:
            self.trips |= int(why)
            if self.state == fw.FwState.SAFED:
                return
            self.state = fw.FwState.SAFED
            self.safing_t0 = self.engine.t
            self.safing_next = 0
            self.events.append((self.engine.t, f"trip {why.name.lower()}"))
            self._advance_safing()

    def unlatch(self, t: float) -> None:
        """Leave SAFED: the outputs follow the holding registers again from the next scan."""
        self.state, self.trips = fw.FwState.NORMAL, 0
        self.events.append((t, "reset"))
        self._cmd_dirty = True

    def trip_hard_start(self, seen: HardStartSeen) -> None:
        """The hard-start trip fired: latch SAFED and shut every propellant valve and the igniter
        at this scan (the safing table's fuel lag would only feed the spike); the rest of the
        table (the purge) plays on."""
        self.events.append((self.engine.t, f"hard start: pc {seen.reading:.3g} MPa ({seen.why.name.lower()})"))
        self.trip(seen.why)
        for a in self.actuators:
            if a.propellant != "none" or a.kind == "igniter":
                self.outputs[a.name] = 0.0
        self._apply_outputs()

    def _advance_safing(self) -> None:
        steps = self.stand.safing
        elapsed = self.engine.t - self.safing_t0 + 1e-12
        changed = False
        while self.safing_next < len(steps) and steps[self.safing_next].at_s <= elapsed:
            for name, value in steps[self.safing_next].set:
                self.outputs[name] = value
            self.safing_next += 1
            changed = True
        if changed:
            self._apply_outputs()

    def _execute(self, cmd: int, seq: int) -> None:
        result = fw.AckResult.OK
        if cmd == fw.Command.RESET:
            if self.state == fw.FwState.SAFED:
                if not self.commands_safe():
                    result = fw.AckResult.REFUSED_OUTPUTS_NOT_SAFE
                else:
                    self.state = fw.FwState.NORMAL
                    self.trips = 0
                    self.hb_seen = False  # re-engage on the next heartbeat
                    self.events.append((self.engine.t, "reset"))
                    self._cmd_dirty = True
            else:
                self.trips = 0
        elif cmd == fw.Command.SAFE:
            self.trip(fw.Trip.COMMANDED)
        else:
            result = fw.AckResult.UNKNOWN_COMMAND
        self.ack_seq, self.ack_result = seq, int(result)

    def commands_safe(self) -> bool:
        """A reset may not hand the outputs back while the holding registers still command
        propellant or ignition on: the valves would snap open."""
        for a in self.actuators:
            if (a.propellant != "none" or a.kind == "igniter") and self.commanded.raw(a) != 0:
                return False
        return True

    def _decode_commands(self) -> None:
        self.commanded.decode_into(self.outputs)
        self._apply_outputs()

    def _apply_outputs(self) -> None:
        eng = self.engine
        for a in self.actuators:
            v = self.outputs[a.name]
            if a.drives == "igniter":
                eng.igniter = v > 0
            elif a.drives == "purge":
                eng.purge = v > 0
            elif a.drives:
                frac = v / 100.0 if a.kind == "proportional" else (1.0 if v > 0 else 0.0)
                setattr(eng, _PLANT_ATTR[a.drives], frac)

    # ------------------------------------------------------------------ faults

    def inject(self, fault: Fault) -> None:
        """Add a fault while running (times are on the simulator clock)."""
        with self.lock:
            self.faults.append(fault)
            self.faults.sort(key=lambda f: f.start_s)
            self._active.clear()
            self._ended.clear()
            self._update_faults()

    def _update_faults(self) -> None:
        t = self.engine.t + 1e-12
        for i, f in enumerate(self.faults):
            if i in self._ended:
                continue
            if i not in self._active and f.start_s <= t:
                self._active.add(i)
                set_fault(self, f, True)
                self.events.append((self.engine.t, f"fault on {f.spec()}"))
            if i in self._active and f.end_s <= t:
                self._active.discard(i)
                self._ended.add(i)
                set_fault(self, f, False)
                self.events.append((self.engine.t, f"fault off {f.name}"))

    def _next_fault_time(self) -> float:
        nxt = math.inf
        for i, f in enumerate(self.faults):
            if i in self._ended:
                continue
            nxt = min(nxt, f.end_s if i in self._active else f.start_s)
        return nxt

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> None:
        """Run the scans covering ``seconds`` of simulator time (lockstep entry point)."""
        n = int(round(seconds / self.dt))
        with self.lock:
            while n > 0:
                n -= self._scan_batch(n)

    def scan(self) -> None:
        """One scan period (the real-time thread's entry point)."""
        with self.lock:
            self._scan_batch(1)

    def _scan_batch(self, n: int) -> int:
        """Scan logic once, then let the plant run until the next thing the firmware must
        look at (a watchdog deadline, a safing step, a fault edge), at most ``n`` scans."""
        dt = self.dt
        t = self.engine.t
        self._update_faults()
        if self._pending_cmd is not None:
            cmd, seq = self._pending_cmd
            self._pending_cmd = None
            self._execute(cmd, seq)
        if self.state == fw.FwState.SAFED:
            self._advance_safing()
        elif self._cmd_dirty:
            self._decode_commands()
            self.hard_start.watch_outputs(self.outputs, t)
        self._cmd_dirty = False
        # in a start transient the trip looks at every scan's reading: the plant runs scan by scan
        watching = self.state != fw.FwState.SAFED and self.hard_start.armed(t)
        k = 1 if watching else n
        if self.watchdog_engaged and self.state != fw.FwState.SAFED:
            remaining = self.hb_last_t + self.cfg.watchdog_s - t if self.hb_seen else self.cfg.watchdog_s - t
            if remaining < 0:
                self.trip(fw.Trip.WATCHDOG)
            else:
                k = min(k, int(remaining / dt) + 1)
        k = plain_watchdogs(self, t, k)
        if self.state == fw.FwState.SAFED and self.safing_next < len(self.stand.safing):
            due = self.safing_t0 + self.stand.safing[self.safing_next].at_s - t
            k = min(k, max(1, math.ceil(due / dt - 1e-9)))
        nf = self._next_fault_time()
        if nf < math.inf:
            k = min(k, max(1, math.ceil((nf - t) / dt - 1e-9)))
        done = self.engine.run(k, self._op_limit, self.cfg.overpressure_samples, self._op_over)
        self.scans += done
        if watching and done and (seen := self.hard_start.check(self.engine, dt, self.scans)) is not None:
            self.trip_hard_start(seen)
        # consecutive scans above the limit, counted across calls (of 1 scan in real time and in
        # lockstep at the scan rate, of 2 with a loop at half the scan rate, of any number)
        self._op_over = self.engine.over_count
        if done < k or self._op_over >= self.cfg.overpressure_samples:
            self.trip(fw.Trip.OVERPRESSURE)
        self._update_faults()  # a fault due now is visible to the next register access
        return done
