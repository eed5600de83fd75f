"""Talking to a stand's devices: the loop's read/write scheduler and the serial-line threads."""
