"""Everything that decides whether the stand is safe: the state machine and safing routine, sensor
qualification, the ignition monitor and relight interlocks, redlines, the valve watch and the
lost-client watch. Each monitor is one stage of the cycle (hil/cycle/state.py)."""

from hil.safety.client_watch import ClientWatch
from hil.safety.ignition import IgnitionMonitor
from hil.safety.redlines import RedlineMonitor
from hil.safety.sensors import SensorQualifier, median
from hil.safety.start import StartInterlock
from hil.safety.supervisor import STATE_NAMES, EventSink, Safing, State, Supervisor
from hil.safety.valve_watch import ValveWatch

__all__ = ["STATE_NAMES", "ClientWatch", "EventSink", "IgnitionMonitor", "RedlineMonitor", "Safing",
           "SensorQualifier", "StartInterlock", "State", "Supervisor", "ValveWatch", "median"]
