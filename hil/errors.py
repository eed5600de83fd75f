"""The project's exception tree.

Callers catch these, never pymodbus's or tomllib's: a transport or a loader translates
foreign errors at its boundary so that the safety logic only has to reason about ours.
"""

from __future__ import annotations


class HilError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(HilError):
    """A stand or sequence file is malformed; nothing may start.

    Carries where the problem is so that a test engineer can go straight to the line.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.line = line
        self.reason = message
        where = path or "<config>"
        if line is not None:
            where += f":{line}"
        if key:
            where += f": {key}"
        super().__init__(f"{where}: {message}")


class FaultSpecError(HilError):
    """A fault-injection spec on the command line or in a test cannot be parsed."""


class TransportError(HilError):
    """Talking to the stand failed (timeout, closed link, bad frame)."""


class TransportTimeout(TransportError):
    """The stand did not answer within the configured time."""


class DeviceException(TransportError):
    """The stand answered with a Modbus exception response."""

    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(f"{message} (Modbus exception code {code})")


class ExprError(HilError):
    """A sequence condition that does not parse; ``column`` is 1-based within the expression."""

    def __init__(self, message: str, column: int) -> None:
        self.column = column
        super().__init__(f"{message} (at column {column})")


class SequenceInvalid(HilError):
    """One or more problems in a sequence file; ``errors`` holds every located one."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class Refused(HilError):
    """An operator or client request that the current state does not allow; carries why."""


class ProtocolError(HilError):
    """A message between our own processes (telemetry, a child's readiness line) is malformed."""


class ChildStartError(HilError):
    """A child process (simulator, controller) did not come up or did not say where it is."""


class ControllerTimeout(HilError):
    """The controller did not answer in time (not running, or restarting)."""

