"""The stand model: what one TOML stand file describes (registers, calibrations, actuators,
firmware interlocks, safing, limits, redlines, throttle and ignition), as frozen dataclasses.

It is the single source of truth for the register map: the simulated firmware lays out its
register image from it and the controller decodes with it, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hil.stand import firmware_map as fw
from hil.stand.calibration import Calibration
from hil.stand.devices import Device, TransportConfig
from hil.stand.kinds import (
    ActuatorKind,
    ChannelRole,
    Feeds,
    Plot,
    Propellant,
    RedlineWhen,
    RegisterTable,
    RegisterType,
    WatchdogEngage,
    WordOrder,
)
from hil.stand.registers import spec


@dataclass(frozen=True)
class LoopConfig:
    """Controller loop rate and when missed cycles become a communication fault."""

    rate_hz: float = 1000.0
    comm_loss_cycles: int = 20
    heartbeat_hz: float = 100.0
    # a run is aborted when the loop holds less than this share of its rate over the window
    # (a sluggish device, a noisy line): redlines checked at a tenth of their rate are not redlines
    min_rate_pct: float = 20.0
    rate_window_s: float = 0.5


@dataclass(frozen=True)
class FirmwareConfig:
    """The stand firmware's own interlocks (hil-stand-1 protocol)."""

    protocol: str = fw.PROTOCOL
    scan_hz: float = 1000.0
    watchdog_s: float = 0.1
    watchdog_engage: WatchdogEngage = WatchdogEngage.FIRST_HEARTBEAT
    overpressure_channel: str = ""
    overpressure_limit: float = float("inf")
    overpressure_samples: int = 3
    # the hard-wired hard-start trip (firmware_sim/trip.py): in a start transient (from a chamber
    # propellant valve opening with both shut, for hard_start_window_s) the overpressure channel
    # above hard_start_above (default: overpressure_limit) for one scan, or rising faster than
    # hard_start_rate (MPa/s; default: off) for hard_start_samples scans, shuts every propellant
    # valve and the igniter at that scan and latches
    hard_start_above: float = float("inf")
    hard_start_rate: float = float("inf")
    hard_start_samples: int = 2
    hard_start_window_s: float = 2.0


@dataclass(frozen=True)
class Channel:
    """One sensor: where it is, how to decode it, and (for the simulator) what feeds it."""

    name: str
    register: int
    type: RegisterType
    calibration: Calibration
    units: str = ""
    valid: tuple[float, float] = (float("-inf"), float("inf"))
    word_order: WordOrder = WordOrder.BIG
    table: RegisterTable = RegisterTable.INPUT
    frozen_s: float = 0.0  # disqualify when the raw value has not changed for this long (0: never)
    source: str = ""
    description: str = ""
    role: ChannelRole | None = None
    plot: Plot | None = None  # None: from its role (Pc, thrust, valve feedback), else not plotted
    device: str = ""  # the device it is read from (filled in by the loader)
    zero_limit: float = 0.0  # hil checkout zero: the largest offset it may take (0: not zeroed)
    zero_expect: float = 0.0  # ... and what it reads with the stand vented (0 gauge; ~0.1013 MPa absolute)

    @property
    def width(self) -> int:
        """Registers this channel occupies."""
        return spec(self.type).words


@dataclass(frozen=True)
class Actuator:
    """One commanded output: a coil (on/off), or holding registers where eng value = raw * scale,
    the raw value packed as ``type`` (u16 by default; f32 for a DAC that takes volts) in
    ``word_order``."""

    name: str
    kind: ActuatorKind
    register: int
    type: RegisterType = RegisterType.U16
    word_order: WordOrder = WordOrder.BIG
    propellant: Propellant = Propellant.NONE
    scale: float = 1.0
    range: tuple[float, float] = (0.0, 1.0)
    units: str = ""
    feedback: str = ""
    drives: str = ""
    feeds: Feeds = Feeds.CHAMBER
    description: str = ""
    table: RegisterTable = RegisterTable.HOLDING  # or COIL
    device: str = ""  # the device it is written to (filled in by the loader)
    stroke_limit_s: float = 0.0  # hil checkout valves: the slowest 10-90 % stroke accepted (0: report only)

    @property
    def width(self) -> int:
        """Registers (or coils) this output occupies."""
        return spec(self.type).words


@dataclass(frozen=True)
class SafingStep:
    """At ``at_s`` seconds after safing starts, set these actuators (engineering values)."""

    at_s: float
    set: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Limits:
    """Engine limits the sequences and the throttle controller are checked against."""

    pc_channel: str = "pc"
    pc_channels: tuple[str, ...] = ()  # redundant Pc transducers the controller votes over
    pc_rated: float = 0.0
    throttle_min_pct: float = 40.0
    throttle_max_pct: float = 110.0
    # a valve with position feedback that stays further than this from its command for longer
    # than valve_track_s is not following it (stuck, broken linkage, lost air)
    valve_track_pct: float = 10.0
    valve_track_s: float = 0.5


@dataclass(frozen=True)
class Redline:
    """A limit checked every cycle, outside any sequence.

    Trips after ``persistence`` consecutive violating samples. Absolute (``min``/``max``),
    relative to the commanded chamber pressure (``min_frac``/``max_frac`` of ``pc_setpoint``,
    checked ``settle_s`` after the setpoint last moved), or on the rate of change
    (``max_rate`` units/s). Several ``channels`` vote: the median of the qualified ones counts.
    """

    name: str
    channels: tuple[str, ...]
    min: float = -math.inf
    max: float = math.inf
    min_frac: float = -math.inf
    max_frac: float = math.inf
    max_rate: float = math.inf
    settle_s: float = 0.0
    persistence: int = 3
    when: RedlineWhen = RedlineWhen.ALWAYS
    enabled: bool = True  # False: a sequence has to enable it (phase-gated)
    line: int | None = None
    # how long the redline may go without a fresh sample of any of its channels before it is
    # blind (None: derived from its channels' devices, see hil/safety/blind.py)
    blind_after_s: float | None = None

    @cached_property
    def relative(self) -> bool:
        """Checked against the commanded Pc rather than a fixed number."""
        return math.isfinite(self.min_frac) or math.isfinite(self.max_frac)


@dataclass(frozen=True)
class ThrottleConfig:
    """Closed-loop chamber-pressure control: which outputs it drives and its PI gains.

    ``feedforward`` maps Pc (fraction of rated) to the throttle output (%) at steady state,
    the starting point the PI corrects from; ``ratio`` gives each further actuator's position
    as a multiple of the first. Moving both main valves of a pressure-fed engine together
    holds O/F by construction when their valve/injector area ratios match (they do on the
    simulated stands); a pump-fed engine throttled through its GG keeps O/F the same way.
    """

    actuators: tuple[str, ...]
    kp: float  # % per MPa
    ki: float  # % per MPa·s
    feedforward: tuple[tuple[float, float], ...]
    ratio: tuple[float, ...] = ()
    slew: float = 1.0  # default setpoint slew, MPa/s
    out_slew: float = 50.0  # %/s limit on the output


@dataclass(frozen=True)
class IgnitionConfig:
    """How the controller confirms ignition and when a relight is allowed."""

    channel: str = "pc"
    confirm_above: float = 0.0  # ignition is confirmed when the channel exceeds this
    window_s: float = 1.5  # ... within this long after both propellants are commanded open
    relight_below: float = 0.2  # relight inhibited until the channel is below this
    min_off_s: float = 2.0  # and the engine has been off this long
    min_purge_s: float = 1.0  # with at least this much purge since shutdown
    flameout_s: float = 0.02  # a confirmed flame whose channel stays below relight_below this long is out
    # the staged start (hil/safety/start.py); absent keys enforce nothing
    max_open_before_confirm: tuple[tuple[str, float], ...] = ()  # chamber propellant valve -> % until confirmed
    stage_window_s: float | None = None  # first chamber propellant valve open -> ignition confirmed, at most
    igniter_channel: str | None = None  # the igniter's own proof (igniter chamber pressure, flame detector)
    igniter_proven_above: float = math.nan  # ... proven when it reads above this
    # a start going hard (hil/safety/start.py): the ignition channel rising faster than this
    # (MPa/s, over hard_start_samples cycles) or above hard_start_above, from the first chamber
    # propellant valve opening until start_transient_s after ignition is confirmed
    hard_start_rate: float | None = None
    hard_start_samples: int = 2
    hard_start_above: float | None = None
    start_transient_s: float = 1.0

    def stage_limit(self, valve: str) -> float | None:
        """The most ``valve`` may be commanded open before ignition is confirmed (None: no limit)."""
        return dict(self.max_open_before_confirm).get(valve)


@dataclass(frozen=True)
class AbortSwitch:
    """A hardware ABORT (a mushroom button wired to a discrete input): the channel it reads and
    the level that means pressed (1: closes when pressed; 0: a normally-closed loop that opens,
    so a broken wire aborts too). It aborts like the console's ABORT, on the press."""

    channel: str
    active: int = 1


@dataclass(frozen=True)
class SimConfig:
    """Only for simulated stands: which engine preset the firmware simulator runs, and how this
    engine differs from the preset (a campaign's dispersed engine, ``hil run --engine``)."""

    engine: str = "tq12"
    seed: int = 0
    overrides: tuple[tuple[str, float], ...] = ()  # EngineParams fields replaced
    noise_scale: float = 1.0  # every sensor's white noise, times this


@dataclass(frozen=True)
class StandConfig:
    """A validated stand. Immutable: the loop and the firmware share it across threads."""

    path: str
    sha256: str
    name: str
    description: str
    devices: tuple[Device, ...]
    loop: LoopConfig
    firmware: FirmwareConfig | None
    channels: tuple[Channel, ...]
    actuators: tuple[Actuator, ...]
    safing: tuple[SafingStep, ...]
    limits: Limits
    sim: SimConfig | None
    redlines: tuple[Redline, ...] = ()
    throttle: ThrottleConfig | None = None
    ignition: IgnitionConfig | None = None
    pid: Any = None  # the declared P&ID (hil/stand/pid_table.py: PidLayout), None: generated by the console
    zero: dict[str, Any] | None = None  # the zero file applied (hil/stand/zero.py): path, sha256, date, operator
    abort_switch: AbortSwitch | None = None  # [abort_switch]: a hardware ABORT input
    _by_name: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False, compare=False)

    def replaced(self, **changes: Any) -> StandConfig:
        """A copy with some fields changed (e.g. channels with a zero applied), its by-name
        index rebuilt: the index holds the objects themselves."""
        channels = changes.get("channels", self.channels)
        actuators = changes.get("actuators", self.actuators)
        index: dict[tuple[str, str], Any] = {("c", c.name): c for c in channels}
        index.update({("a", a.name): a for a in actuators})
        return dataclasses.replace(self, **changes, _by_name=index)

    @property
    def transport(self) -> TransportConfig:
        """The first device's link (a single-device stand's ``[transport]``)."""
        return self.devices[0].link

    def device(self, name: str) -> Device:
        """Device by name."""
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(f"no device {name!r} in stand {self.name!r}")

    @cached_property
    def firmware_device(self) -> str | None:
        """The device speaking the hil-stand-1 firmware protocol (its system blocks live there)."""
        return next((d.name for d in self.devices if d.protocol == "hil-stand-1"), None)

    def channel(self, name: str) -> Channel:
        """Channel by name (KeyError names the missing one)."""
        obj = self._by_name.get(("c", name))
        if obj is None:
            raise KeyError(f"no channel {name!r} in stand {self.name!r}")
        return obj

    def with_role(self, role: ChannelRole) -> str | None:
        """The channel declared with ``role`` (roles are unique in a stand), or None."""
        return next((c.name for c in self.channels if c.role == role), None)

    def plot_of(self, channel: Channel) -> Plot:
        """The console plot a channel goes in: as declared, else from what the stand says it is."""
        if channel.plot is not None:
            return channel.plot
        if channel.name in (self.limits.pc_channels or (self.limits.pc_channel,)):
            return Plot.PC
        if channel.role == ChannelRole.THRUST:
            return Plot.THRUST
        if any(a.feedback == channel.name for a in self.actuators):
            return Plot.VALVES
        return Plot.NONE

    def actuator(self, name: str) -> Actuator:
        """Actuator by name."""
        obj = self._by_name.get(("a", name))
        if obj is None:
            raise KeyError(f"no actuator {name!r} in stand {self.name!r}")
        return obj

    def register_count(self, device: str, table: RegisterTable) -> int:
        """Size of one of a device's data tables (system blocks included on the firmware device)."""
        n = 0
        if device == self.firmware_device:
            n = {RegisterTable.INPUT: fw.IR_SYSTEM_COUNT, RegisterTable.HOLDING: fw.HR_SYSTEM_COUNT}.get(table, 0)
        for ch in self.channels:
            if ch.device == device and ch.table == table:
                n = max(n, ch.register + ch.width)
        for act in self.actuators:
            if act.device == device and act.table == table:
                n = max(n, act.register + act.width)
        return n

    @property
    def input_register_count(self) -> int:
        """Size of the first device's input-register image."""
        return self.register_count(self.devices[0].name, RegisterTable.INPUT)

    @property
    def holding_register_count(self) -> int:
        """Size of the first device's holding-register image."""
        return self.register_count(self.devices[0].name, RegisterTable.HOLDING)
