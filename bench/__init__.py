"""Benchmarks: print figures and write JSON; never timed assertions in the test suite."""
