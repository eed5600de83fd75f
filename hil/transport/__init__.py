"""Ways of reaching a stand's devices. All pymodbus calls of the controller live here."""

from __future__ import annotations

from hil.stand import StandConfig, TransportConfig
from hil.stand.kinds import LinkKind
from hil.transport import modbus_log
from hil.transport.base import Transport

modbus_log.install()  # pymodbus's log lines become counted events, never terminal output


def open_transport(stand: StandConfig, override: TransportConfig | None = None) -> Transport:
    """The transport of a single-device stand (or ``override``), not yet connected."""
    return _one(override or stand.transport, {})


def open_transports(stand: StandConfig, links: dict[str, TransportConfig] | None = None) -> dict[str, Transport]:
    """A transport per device, not yet connected; devices on one serial line share its port.
    ``links`` replaces some devices' links (a simulator's ephemeral ports and ptys)."""
    lines: dict[str, object] = {}
    out: dict[str, Transport] = {}
    for d in stand.devices:
        out[d.name] = _one((links or {}).get(d.name, d.link), lines)
    return out


def _one(cfg: TransportConfig, lines: dict[str, object]) -> Transport:
    if cfg.kind == LinkKind.TCP:
        from hil.transport.modbus_tcp import TcpTransport

        return TcpTransport(cfg)
    from hil.transport.modbus_rtu import RtuTransport, SerialLine

    line = lines.get(cfg.device)
    if not isinstance(line, SerialLine):
        line = lines[cfg.device] = SerialLine(cfg)
    return RtuTransport(cfg, line)


__all__ = ["Transport", "open_transport", "open_transports"]
