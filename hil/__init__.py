"""hil-stand: hardware-in-the-loop controller for liquid-rocket-engine test stands."""

__version__ = "0.1.0"
