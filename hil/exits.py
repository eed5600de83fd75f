"""The exit codes of ``hil run``, ``hil check`` and ``hil serve`` (DESIGN.md's contract):
0 completed, 1 invalid input (nothing ran), 2 aborted and safed (reason in summary.json),
3 fault (communication or hardware; stand state uncertain)."""

EXIT_OK, EXIT_INVALID, EXIT_ABORTED, EXIT_FAULT = 0, 1, 2, 3
