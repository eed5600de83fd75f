"""The Modbus faces of the simulated stand: every device's four tables (input and holding
registers, discrete inputs, coils) laid out from the stand file, over one plant.

A real stand is several devices; the simulator serves each from the same engine, so a DAQ, a
valve PLC and two slow modules on an RS-485 line see one consistent world. Reads sample the
sensors at the moment of the request (a DAQ converting on request); writes land in the device's
output image and the firmware decodes the outputs on its next scan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from firmware_sim.sensors import Sensor, sample_into
from hil.stand import Actuator, StandConfig
from hil.stand import firmware_map as fw
from hil.stand.devices import Device, Heartbeat
from hil.stand.kinds import RegisterTable
from hil.stand.registers import decode, spec

if TYPE_CHECKING:
    from firmware_sim.engine import Engine

TABLES = ("input", "holding", "discrete", "coil")


@dataclass
class Face:
    """One simulated device: its tables' sizes, its output images, the sensors behind its
    inputs, and its heartbeat (a plain watchdog block) as last seen."""

    name: str
    unit: int
    hil_protocol: bool
    heartbeat: Heartbeat | None
    sizes: dict[str, int]
    holding: list[int]
    coils: list[int]
    sensors: dict[str, list[Sensor]] = field(default_factory=dict)
    hb_seen: bool = False
    hb_last_t: float = 0.0

    def ok(self, table: str, address: int, count: int) -> bool:
        """Whether an access stays inside the table (else: illegal data address)."""
        return 0 <= address and count >= 1 and address + count <= self.sizes.get(table, 0)


def build_faces(stand: StandConfig, sensors: list[Sensor]) -> dict[str, Face]:
    """A face per device of the stand, sized to what the stand file puts on it."""
    faces: dict[str, Face] = {}
    for d in stand.devices:
        sizes = {t: stand.register_count(d.name, RegisterTable(t)) for t in TABLES}
        hb = d.heartbeat
        if hb is not None:
            sizes["holding"] = max(sizes["holding"], hb.register + 1)
            if hb.echo is not None:
                sizes[hb.echo_table] = max(sizes[hb.echo_table], hb.echo + 1)
        faces[d.name] = Face(d.name, d.link.unit, _is_hil(d), hb, sizes, [0] * sizes["holding"], [0] * sizes["coil"])
    for s in sensors:
        faces[s.ch.device].sensors.setdefault(str(s.ch.table), []).append(s)
    return faces


def _is_hil(d: Device) -> bool:
    return d.protocol == "hil-stand-1"


def sample(face: Face, table: str, address: int, count: int, engine: object, system: list[int] | None) -> list[int]:
    """Read-only tables (input registers, discrete inputs) sampled now."""
    end = address + count
    image = [0] * face.sizes[table]
    if system is not None and table == "input" and address < fw.IR_SYSTEM_COUNT:
        image[: fw.IR_SYSTEM_COUNT] = system
    hb = face.heartbeat
    if hb is not None and hb.echo is not None and hb.echo_table == table:
        image[hb.echo] = face.holding[hb.register]  # the watchdog block copies the counter back
    sensors = face.sensors.get(table)
    if sensors:
        sample_into(sensors, engine, image, address, end)  # type: ignore[arg-type]
    return image[address:end]


def _u32(seconds: float) -> list[int]:
    """Seconds as u32 milliseconds, high word first (wraps after 49 days, like firmware)."""
    ms = int(round(seconds * 1000)) & 0xFFFFFFFF
    return [ms >> 16, ms & 0xFFFF]


class FirmwareState(Protocol):
    """What the system block reports of the firmware (firmware_sim/firmware.py)."""

    @property
    def watchdog_engaged(self) -> bool: ...

    @property
    def hb_seen(self) -> bool: ...

    @property
    def state(self) -> fw.FwState: ...

    @property
    def actuators(self) -> tuple[Actuator, ...]: ...

    @property
    def outputs(self) -> dict[str, float]: ...

    @property
    def scans(self) -> int: ...

    @property
    def trips(self) -> int: ...

    @property
    def fw_face(self) -> Face | None: ...

    @property
    def ack_seq(self) -> int: ...

    @property
    def ack_result(self) -> int: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def safing_t0(self) -> float: ...

    @property
    def hb_last_t(self) -> float: ...

    @property
    def output_change_t(self) -> float: ...


def system_block(self: FirmwareState) -> list[int]:
    """The hil-stand-1 system block: state, status bits, trips, heartbeat echo, ack, clocks."""
    status = 0
    if self.watchdog_engaged:
        status |= fw.Status.WATCHDOG_ENGAGED
    if self.hb_seen:
        status |= fw.Status.HEARTBEAT_SEEN
    if self.state == fw.FwState.SAFED:
        status |= fw.Status.SAFING_ACTIVE
        if any(a.kind == "purge" and self.outputs[a.name] for a in self.actuators):
            status |= fw.Status.PURGE_BY_FIRMWARE
    scans = self.scans & 0xFFFFFFFF
    block = [0] * fw.IR_SYSTEM_COUNT
    block[fw.IR_STATE] = int(self.state)
    block[fw.IR_STATUS] = status
    block[fw.IR_TRIPS] = self.trips
    assert self.fw_face is not None
    block[fw.IR_HEARTBEAT_ECHO] = self.fw_face.holding[fw.HR_HEARTBEAT]
    block[fw.IR_ACK_SEQ] = self.ack_seq
    block[fw.IR_ACK_RESULT] = self.ack_result
    block[fw.IR_SCAN_COUNT : fw.IR_SCAN_COUNT + 2] = [scans >> 16, scans & 0xFFFF]
    block[fw.IR_TIME_MS : fw.IR_TIME_MS + 2] = _u32(self.engine.t)
    block[fw.IR_VERSION] = fw.FIRMWARE_VERSION
    block[fw.IR_TRIP_TIME_MS : fw.IR_TRIP_TIME_MS + 2] = _u32(self.safing_t0 if self.trips else 0.0)
    block[fw.IR_HEARTBEAT_TIME_MS : fw.IR_HEARTBEAT_TIME_MS + 2] = _u32(self.hb_last_t)
    block[fw.IR_OUTPUT_TIME_MS] = _u32(self.output_change_t)[1]
    return block


class OutputCommands:
    """What the stand's outputs are commanded to, read from the faces' coils and holding
    registers. The plan of each decode is looked up once: the firmware decodes its outputs at
    every scan after a write changed them (every cycle while a throttle moves its valves)."""

    def __init__(self, actuators: tuple[Actuator, ...], faces: dict[str, Face]) -> None:
        self.faces = faces
        self.plan = [(a.name, faces[a.device], a.table == "coil", a.register, a.width, spec(a.type), a.word_order,
                      1.0 if a.table == "coil" else a.scale, a.range[0], a.range[1]) for a in actuators]

    def raw(self, a: Actuator) -> float:
        """An actuator's raw command as its coil or holding registers hold it."""
        face = self.faces[a.device]
        if a.table == "coil":
            return float(face.coils[a.register])
        return decode(face.holding[a.register : a.register + a.width], a.type, a.word_order)

    def decode_into(self, outputs: dict[str, float]) -> None:
        """Every output from its registers as they are now (:meth:`raw`, scaled and clamped to
        the actuator's range)."""
        for name, face, coil, r, width, rspec, order, scale, lo, hi in self.plan:
            v = (float(face.coils[r]) if coil else rspec.decode(face.holding[r : r + width], order)) * scale
            outputs[name] = lo if v < lo else hi if v > hi else v
