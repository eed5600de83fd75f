"""The controller: the control loop with its stages, its typed command methods and its one read
model (controller.py), the snapshot that read model returns (snapshot.py), and who among the
clients may command (authority.py). Clients speak to it through the service's wire protocol
(hil/service/protocol.py); the recorder, checkouts and ``hil run`` through its methods, its
snapshots and its events.
"""

from hil.controller.controller import CheckoutDesk, Controller

__all__ = ["CheckoutDesk", "Controller"]
