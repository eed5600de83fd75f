"""The simulated stand's RTU serial line as bytes, for lockstep runs.

A lockstep run normally hands registers straight to the firmware. To put line faults (CRC
errors, noise, slow answers) into the fault matrix without giving up lockstep, this module plays
the device end of a Modbus RTU line: it decodes the controller's request frame with pymodbus's
RTU framer, lets the firmware answer, frames the answer, and passes it through the same
corruption the real serial server applies. The controller decodes the bytes with its real RTU
code (hil/transport/lockstep.py), so a bad CRC is caught by the CRC check, not by a flag.
"""

from __future__ import annotations

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
)

from firmware_sim.firmware import Firmware

ILLEGAL_ADDRESS = 2


class RtuLine:
    """The device end of one RTU line: request bytes in, answer bytes and their delay out."""

    def __init__(self, firmware: Firmware, unit: int = 1) -> None:
        self.fw = firmware
        self.unit = unit
        self.framer = FramerRTU(DecodePDU(True))
        self.requests = 0

    def clean(self) -> bool:
        """True while no line fault is active: every frame would arrive intact and on time."""
        fw = self.fw
        return not (fw.crc_error_rate or fw.garbage_rate or fw.response_delay_s)

    def exchange(self, request: bytes) -> tuple[bytes, float]:
        """The bytes the device puts on the line for ``request`` (empty: silence) and how long
        after the request they arrive (the firmware's response delay)."""
        try:
            _, req = self.framer.handleFrame(request, 0, 0)
        except ModbusException:
            return b"", 0.0  # a frame the device cannot parse gets no answer, as on a real line
        if req is None or req.dev_id != self.unit:
            return b"", 0.0
        self.requests += 1
        fw = self.fw
        if not fw.answering:
            return b"", 0.0
        resp = self._answer(req)
        frame = self.framer.buildFrame(resp)
        return fw.corrupt_rtu(frame), fw.response_delay_s

    def _answer(self, req: ModbusPDU) -> ModbusPDU:
        fw = self.fw
        fc = req.function_code
        if fw.exception_code:
            return self._exception(fc, fw.exception_code)
        if isinstance(req, ReadInputRegistersRequest):
            if not fw.input_ok(req.address, req.count):
                return self._exception(fc, ILLEGAL_ADDRESS)
            return ReadInputRegistersResponse(registers=fw.read_input_registers(req.address, req.count),
                                              dev_id=self.unit)
        if isinstance(req, ReadHoldingRegistersRequest):
            if not fw.holding_ok(req.address, req.count):
                return self._exception(fc, ILLEGAL_ADDRESS)
            return ReadHoldingRegistersResponse(registers=fw.read_holding_registers(req.address, req.count),
                                                dev_id=self.unit)
        if isinstance(req, WriteMultipleRegistersRequest):
            if not fw.holding_ok(req.address, len(req.registers)):
                return self._exception(fc, ILLEGAL_ADDRESS)
            fw.write_holding_registers(req.address, list(req.registers))
            return WriteMultipleRegistersResponse(address=req.address, count=len(req.registers), dev_id=self.unit)
        return self._exception(fc, 1)  # illegal function

    def _exception(self, function_code: int, code: int) -> ModbusPDU:
        return ExceptionResponse(function_code, code, device_id=self.unit)
