"""Pre-test checkout, before propellants are loaded: zero the transducers, time the valves.

    hil checkout zero   --stand S [--sim tcp] [--seconds 3] [--operator NAME]
    hil checkout valves --stand S [--sim tcp] [--yes]

or the console's Checkout tab, which asks the controller service to run the same procedures
(hil/checkout/jobs.py) on the stand it already holds. Either way the stand must be SAFE, the
controller runs as it does for a test (the same loop, safety stages and recording), and the
checkout leaves a record: a run directory with the data, the events, the results
(checkout.json) and a short report (checkout.md).

*Zero* reads every channel that declares a ``zero_limit`` for a few seconds with the stand
vented, and takes each one's offset from the reading it should give vented (``zero_expect``).
An offset beyond the channel's limit is refused (a transducer that far off is broken, or the
stand is not vented) and nothing is written; otherwise the offsets go into the stand's zero
file (hil/stand/zero.py), which the loader applies from then on (and a service applies at once).

*Valves* checks that the isolation valves are closed (refused otherwise: nothing moves), asks
for confirmation, then opens and closes each valve that has position feedback, one at a time,
and measures command → 10 % and 10 → 90 % of stroke each way against ``stroke_limit_s``.

The command is hil/checkout/cli.py, the desk a controller runs checkouts on hil/checkout/desk.py,
the procedures hil/checkout/jobs.py; the package itself imports none of them, so a service that
takes a desk does not load the command line.
"""
