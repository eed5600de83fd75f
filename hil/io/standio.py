"""The loop's ``read`` and ``write`` stages over every device of a stand.

Why a scheduler: a stand is several devices at their own paces. Each cycle sends the read
due to every directly polled device before waiting for any answer (N TCP devices cost about the
slowest one, not the sum); a device read at 10 Hz keeps its last values with their age, and a
value older than the device's period plus tolerance is stale: its channels read as invalid,
which the sensor qualifier and the redlines treat like any failed reading. Serial lines are
polled by their own threads (hil/io/line.py) on a real clock; in lockstep they are polled
inline on the virtual clock, so runs stay deterministic.

A device that misses ``lost_after`` polls in a row is lost: a critical one latches FAULT for
the stand (the safing writes still go to every device that answers), a non-critical one only
disqualifies its channels.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import numpy as np

from hil.cycle import CycleState
from hil.cycle.clock import Clock
from hil.errors import TransportError
from hil.io.line import LinePoller
from hil.stand import StandConfig
from hil.stand.devices import Device
from hil.stand.iomap import Commands, Decoder, ReadBlock
from hil.transport.base import Transport
from hil.transport.modbus_log import CAPTURE as MODBUS_LOG

EventSink = Callable[..., None]
SWITCH_INTERVAL_S = 0.0002


@dataclass
class DeviceLink:
    """One device as the loop sees it: its transport, pace, and health."""

    dev: Device
    transport: Transport
    blocks: list[ReadBlock]
    mask: np.ndarray  # its channels
    period: float
    every_cycle: bool
    stale_after: float
    lost_polls: int
    line: LinePoller | None = None
    index: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.intp))  # its channels
    due: float = 0.0
    last_ok: float = -math.inf  # clock time of the last complete read
    failures: int = 0  # consecutive failed polls
    lost: bool = False
    stale: bool = True  # periodic devices: nothing read yet
    stale_reported: bool = False
    error: str = ""
    beat_next: float = 0.0
    beat_value: int = -1
    echo_ok: float = -math.inf
    whole: bool = False  # its channels are every channel of the stand, in order

    @property
    def name(self) -> str:
        return self.dev.name


class StandIO:
    """Reads every device due this cycle, decodes, and writes what changed."""

    def __init__(self, stand: StandConfig, transports: dict[str, Transport], clock: Clock, decoder: Decoder,
                 commands: Commands, events: EventSink, on_lost: Callable[[float, str], None],
                 rate_hz: float, comm_loss_cycles: int) -> None:
        self.stand, self.clock, self.decoder, self.commands = stand, clock, decoder, commands
        self.events, self.on_lost = events, on_lost
        self.links: list[DeviceLink] = []
        self.lines: dict[str, LinePoller] = {}
        threaded = clock.realtime
        for d in stand.devices:
            if d.name not in transports:
                raise KeyError(f"no transport for device {d.name!r}")
            real = transports[d.name].link
            if real is not None and real != d.link:  # served elsewhere than the file says (a simulator)
                d = dataclasses.replace(d, link=real)
            link = DeviceLink(d, transports[d.name], decoder.reads[d.name], decoder.masks[d.name],
                              d.period(rate_hz), d.every_cycle(rate_hz), d.stale_after(rate_hz),
                              d.lost_polls(comm_loss_cycles, rate_hz))
            link.index = np.flatnonzero(link.mask)
            if threaded and d.serial:
                link.line = self.lines.setdefault(d.serial, LinePoller(d.serial, clock))
                link.line.add(d.name, link.transport, link.blocks, link.period)
            self.links.append(link)
        self.direct = [lk for lk in self.links if lk.line is None]
        self.fw_link = next((lk for lk in self.links if lk.name == decoder.fw_device), None)
        self.direct_names = {lk.name for lk in self.direct}
        self.critical = [lk for lk in self.links if lk.dev.critical]
        # a device whose channels are all of the stand's, in order (a single-device stand): its
        # channels' age is set with one fill instead of a fancy-indexed store (issue 26)
        for lk in self.links:
            lk.whole = bool(np.array_equal(lk.index, np.arange(len(stand.channels))))
        self.critical_failures = 0  # consecutive failed polls of the worst critical device
        self.cycle_failed = False  # a poll failed in this cycle
        # seconds spent inside transport calls (the wire, the device's answer, the transport's
        # framing): the loop subtracts it to report the controller's own work per cycle
        self.io_s = 0.0
        n = len(stand.channels)
        self._none = np.zeros(n, dtype=bool)
        self._all = np.ones(n, dtype=bool)
        self._none.flags.writeable = self._all.flags.writeable = False  # shared by every cycle
        self._fresh: list[DeviceLink] = []  # devices whose values arrived this cycle
        self.last_error = ""
        # seconds since each channel's device last delivered a complete read (inf: never)
        self.age = np.full(n, np.inf)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> list[str]:
        """Connect every device (errors are returned, not raised: the loop starts anyway and
        the devices count as failing) and start the line threads."""
        errors = []
        for lk in self.direct:
            try:
                lk.transport.connect()
            except TransportError as exc:
                errors.append(f"{lk.name}: {exc}")
        if self.lines:
            # A line thread decoding an answer holds the GIL; with Python's default 5 ms switch
            # interval the loop thread, woken for its deadline, could wait that long for it.
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        for line in self.lines.values():
            line.start()
        return errors

    def close(self) -> list[str]:
        """Collect outstanding acknowledgements, stop the line threads (after writing what is
        posted, the safing image) and close every link; returns what failed."""
        errors = []
        for line in self.lines.values():
            line.stop()
            line.flush()
            for name in line.units:
                _, err = line.take(name)
                if err:
                    errors.append(f"{name}: final {err}")
        for lk in self.links:
            try:
                lk.transport.settle()
            except TransportError as exc:
                errors.append(f"{lk.name}: final write: {exc}")
            finally:
                lk.transport.close()
        return errors

    def health(self) -> dict[str, str]:
        """Each device as an operator needs it: ``ok``, ``stale`` (a held value too old) or
        ``lost`` (critical ones latch FAULT)."""
        return {lk.name: "lost" if lk.lost else "stale" if (lk.stale and not lk.every_cycle) else "ok"
                for lk in self.links}

    def line_stats(self) -> dict[str, dict[str, int]]:
        """Each device's link counters (TransportStats: retries, timeouts, and every frame dropped
        because it did not answer its request) for the console's status."""
        return {lk.name: dataclasses.asdict(lk.transport.stats) for lk in self.links}

    def device_ages(self) -> dict[str, float | None]:
        """Seconds since each device's last complete read (None: never read): what the
        operator sees of a slow module's held values (``status()["device_age"]``)."""
        now = self.clock.now()
        return {lk.name: None if lk.last_ok == -math.inf else round(now - lk.last_ok, 4) for lk in self.links}

    def not_fresh(self) -> list[str]:
        """Every device that has not delivered a fresh reading, and why: ARM waits for all of them."""
        now, out = self.clock.now(), []
        for lk in self.links:
            if lk.last_ok == -math.inf:
                out.append(f"device {lk.name!r} has not delivered a reading yet")
            elif lk.lost:
                out.append(f"device {lk.name!r} is lost ({lk.error})")
            elif lk.every_cycle and lk.failures:
                out.append(f"device {lk.name!r} did not answer its last poll ({lk.error})")
            elif not lk.every_cycle and now - lk.last_ok > lk.stale_after:
                out.append(f"device {lk.name!r} has no fresh reading: the last is {(now - lk.last_ok) * 1e3:.0f} ms "
                           f"old (stale after {lk.stale_after * 1e3:.0f} ms)")
        return out

    @property
    def transport(self) -> Transport:
        """The first device's transport (single-device stands, summaries)."""
        return self.links[0].transport

    # ------------------------------------------------------------------ read stage

    def read(self, cs: CycleState) -> None:
        """Poll what is due, take what the line threads brought, decode, judge freshness."""
        self.cycle_failed = False
        self._fresh = []
        now = self.clock.now()
        due = [lk for lk in self.direct if lk.every_cycle or now >= lk.due]
        for lk in due:
            if not lk.every_cycle:
                lk.due = max(lk.due + lk.period, now)
        self._poll_concurrently(due, now)
        for lk in self.links:
            if lk.line is not None:
                self._take(lk, cs.t)
        values = self.decoder.eng()
        valid = self.decoder.in_range(values)
        # masks shared while nothing is stale or unread (the common cycle): stages only read them
        stale_mask = unread = self._none
        now = self.clock.now()
        age = self.age
        for lk in self.links:
            if lk.whole:
                age.fill(now - lk.last_ok)
            else:
                age[lk.index] = now - lk.last_ok  # inf until the device's first answer
            if lk.every_cycle:
                if lk.failures or lk.last_ok == -math.inf:  # its last poll failed, or none answered yet
                    values[lk.mask] = np.nan  # unknown is not zero, nor the last value
                    valid[lk.mask] = False
                    unread = unread | lk.mask
            else:
                stale = now - lk.last_ok > lk.stale_after
                if stale and not lk.stale:
                    lk.stale_reported = True
                    self.events(cs.t, "device_stale", device=lk.name, age_ms=round((now - lk.last_ok) * 1e3, 1),
                                stale_after_ms=round(lk.stale_after * 1e3, 1))
                elif not stale and lk.stale and lk.stale_reported:
                    self.events(cs.t, "device_fresh", device=lk.name)
                lk.stale = stale
                if stale or lk.lost:  # never read, held past its stale time, or lost: unknown (NaN), never 0
                    values[lk.mask] = np.nan
                    valid[lk.mask] = False
                    stale_mask = stale_mask | lk.mask
            self._check_echo(lk, cs.t, now)
        if len(self._fresh) == len(self.links):
            fresh = self._all
        else:
            fresh = self._none
            for lk in self._fresh:
                fresh = fresh | lk.mask
        cs.values, cs.valid, cs.fresh, cs.stale, cs.unread = values, valid, fresh, stale_mask, unread
        cs.age = age
        lost = self._none
        for lk in self.links:
            if lk.lost:
                lost = lost | lk.mask
        cs.lost = lost
        fw_link = self.fw_link
        cs.system = self.decoder.system() if fw_link is not None and not fw_link.failures else None
        worst, comm_ok = 0, True
        for lk in self.critical:
            if lk.failures > worst:
                worst = lk.failures
            if lk.lost:
                comm_ok = False
        self.critical_failures = worst
        cs.comm_ok = comm_ok
        for ev in MODBUS_LOG.drain():  # pymodbus's own log lines, rate limited (hil/transport/modbus_log.py)
            self.events(cs.t, "modbus_log", **ev)

    def _poll_concurrently(self, due: list[DeviceLink], now: float) -> None:
        """Send each device its next block, then collect every answer; repeat while any device
        has blocks left. Devices answer in parallel; one device's blocks go one at a time."""
        for lk in due:
            if not lk.blocks:  # an output-only device: nothing to read, nothing to age
                self._ok(lk, now)
        active = [lk for lk in due if lk.blocks]
        k = 0  # every device still active is at its k-th block
        while active:
            t0 = perf_counter()
            for lk in active:
                b = lk.blocks[k]
                lk.transport.begin_read(b.table, b.start, b.count)
            self.io_s += perf_counter() - t0
            still = []
            for lk in active:
                b = lk.blocks[k]
                t0 = perf_counter()
                try:
                    regs = lk.transport.end_read()
                except TransportError as exc:
                    self.io_s += perf_counter() - t0
                    self._failed(lk, now, f"read: {exc}")
                    continue
                self.io_s += perf_counter() - t0
                self.decoder.store(b, regs)
                if k + 1 < len(lk.blocks):
                    still.append(lk)
                else:
                    self._ok(lk, self.clock.now())
            active = still
            k += 1

    def _take(self, lk: DeviceLink, t: float) -> None:
        assert lk.line is not None
        polls, write_error = lk.line.take(lk.name)
        for poll in polls:
            if poll.error:
                self._failed(lk, t, poll.error)
            else:
                for b, regs in poll.blocks:
                    self.decoder.store(b, regs)
                self._ok(lk, poll.t)
        if write_error:
            self.events(t, "comm_error", device=lk.name, error=write_error)

    def _ok(self, lk: DeviceLink, at: float) -> None:
        lk.last_ok = at
        if all(x is not lk for x in self._fresh):  # a line device may bring several polls in one cycle
            self._fresh.append(lk)
        if lk.lost:
            lk.lost = False
            self.events(self._t(), "device_restored", device=lk.name, after_polls=lk.failures)
        lk.failures = 0

    def _failed(self, lk: DeviceLink, now: float, error: str) -> None:
        lk.failures += 1
        self.cycle_failed = True
        lk.error = error
        self.last_error = f"{lk.name}: {error}" if len(self.links) > 1 else error
        if lk.failures == 1:
            self.events(self._t(), "comm_error", error=self.last_error, **self._dev(lk))
        if lk.failures == lk.lost_polls and not lk.lost:
            self._lose(lk, f"{lk.failures} consecutive failed polls ({error})")

    def _lose(self, lk: DeviceLink, why: str) -> None:
        lk.lost = True
        t = self._t()
        self.events(t, "device_lost", device=lk.name, critical=lk.dev.critical, reason=why)
        if lk.dev.critical:
            single = len(self.links) == 1
            self.on_lost(t, f"communication lost: {why}" if single else
                         f"communication lost with device {lk.name!r}: {why}")

    def _check_echo(self, lk: DeviceLink, t: float, now: float) -> None:
        """A plain heartbeat's echo must follow the counter: a PLC whose watchdog block is not
        running (or a device that ignores our writes) is as good as lost."""
        hb = lk.dev.heartbeat
        if hb is None or hb.echo is None or lk.failures or lk.beat_value < 0:
            return
        if self.decoder.echo_value(lk.name) in (lk.beat_value, (lk.beat_value - 1) & 0xFFFF):
            lk.echo_ok = now
            return
        if lk.echo_ok == -math.inf:
            lk.echo_ok = now
        limit = 3.0 / hb.hz + lk.period + lk.dev.link.timeout_s * (1 + lk.dev.link.retries)
        if now - lk.echo_ok > limit and not lk.lost:
            self._lose(lk, f"heartbeat echo (register {hb.echo}) stuck at {self.decoder.echo_value(lk.name)} "
                           f"for {(now - lk.echo_ok) * 1e3:.0f} ms while the counter is {lk.beat_value}")

    def _t(self) -> float:
        return self.clock.now()

    def _dev(self, lk: DeviceLink) -> dict[str, str]:
        return {"device": lk.name} if len(self.links) > 1 else {}

    # ------------------------------------------------------------------ write stage

    def write(self, t: float) -> str:
        """Plain heartbeats that are due, then every changed output block: sent without
        waiting to directly polled devices (the ack is collected with the next request),
        posted to the line threads for devices on a serial line. Returns a write error."""
        now = self.clock.now()
        for lk in self.links:
            hb = lk.dev.heartbeat
            if hb is not None and now >= lk.beat_next:
                lk.beat_next = max(lk.beat_next + 1.0 / hb.hz, now)
                lk.beat_value = self.commands.beat_device(lk.name)
        error = ""
        dirty = self.commands.dirty
        for lk in self.links:
            if lk.name not in dirty:
                continue
            writes = self.commands.pending_writes({lk.name})
            if lk.line is not None:
                lk.line.post(lk.name, writes)
                continue
            t0 = perf_counter()
            try:
                for w in writes:
                    lk.transport.write(w.table, w.address, w.values, wait=False)
            except TransportError as exc:
                self.commands.mark(lk.name)  # every block again next cycle
                error = f"{lk.name}: write: {exc}" if len(self.links) > 1 else f"write: {exc}"
            self.io_s += perf_counter() - t0
        return error
