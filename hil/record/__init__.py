"""Recording a run (Arrow IPC, events, summary), the metrics computed from it, and the post-test report."""
