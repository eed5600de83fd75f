"""The fault matrix runs in CI: every injectable fault in every phase of a two-burn run
(lockstep, two worker processes), and every cell must end safe, without a hard start beyond
the overpressure limit, with the whole run recorded. docs/fault-matrix.md is this table."""

from __future__ import annotations

import pytest

from hil.campaign.faultmatrix import FAULTS, markdown, run_matrix

pytestmark = pytest.mark.timeout(600)


@pytest.mark.slow
def test_every_cell_of_the_fault_matrix_passes() -> None:
    cells = run_matrix(workers=2)
    assert len(cells) == len(FAULTS) * 6
    failed = [f"{c.fault} / {c.phase}: {c.why_failed} ({c.outcome}: {c.reason})" for c in cells if not c.passed]
    assert not failed, "\n".join(failed)
    # the faults that must be noticed are: every silent-firmware-for-good cell ends in FAULT
    forever = [c for c in cells if c.fault == "firmware silent for good"]
    assert all(c.outcome == "fault" and "communication lost" in c.reason for c in forever)
    # a stuck valve is seen through its position feedback, not only through its effect on Pc
    assert all(c.outcome != "completed" and "fuel_main" in c.reason for c in cells if c.fault == "fuel valve stuck open")
    # an igniter that fails, in any phase, ends the run at the next start's proof of the igniter
    # (the wait on p_ign, or the start interlock refusing the LOX lead), never with an unlit start
    igniter = [c for c in cells if c.fault == "igniter failure"]
    assert len(igniter) == 6 and all(c.outcome == "aborted" and "p_ign" in c.reason for c in igniter), \
        [(c.phase, c.outcome, c.reason) for c in igniter]
    # a line that loses a third of its answers cannot carry a 1 kHz loop: the run is stopped and says why
    noisy = [c for c in cells if c.fault.startswith(("RTU CRC errors, 30", "RTU line noise"))]
    assert all(c.outcome != "completed" and c.reason for c in noisy)
    assert f"**{len(cells)} of {len(cells)} cells pass.**" in markdown(cells)
