"""The fixed-rate control cycle: its per-cycle state and the order of its stages (state.py), the
loop that runs it on absolute deadlines (loop.py), the timing it keeps (loopstats.py) and the
clocks it runs on, monotonic or the simulator's virtual one (clock.py).

Only the cycle's state is re-exported here: the stages import it, and the loop imports the
stages, so importing the package must not import the loop.
"""

from hil.cycle.state import CONTROL_STAGES, PRODUCERS, STAGE_ORDER, CycleState, Stage, check_order

__all__ = ["CONTROL_STAGES", "PRODUCERS", "STAGE_ORDER", "CycleState", "Stage", "check_order"]
