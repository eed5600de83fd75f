"""Ways of reaching a stand's registers. All pymodbus calls of the controller live here."""

from __future__ import annotations

from hil.stand import StandConfig, TransportConfig
from hil.transport.base import Transport


def open_transport(stand: StandConfig, override: TransportConfig | None = None) -> Transport:
    """The transport a stand config names (TCP or RTU), not yet connected."""
    cfg = override or stand.transport
    if cfg.kind == "tcp":
        from hil.transport.modbus_tcp import TcpTransport

        return TcpTransport(cfg)
    from hil.transport.modbus_rtu import RtuTransport

    return RtuTransport(cfg)


__all__ = ["Transport", "open_transport"]
