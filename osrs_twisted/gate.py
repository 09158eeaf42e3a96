"""Hold accepted connections unread until start-up has finished.

Ports bind when the service starts, so a port in use fails the start loudly
(strports); but the HTTP side must not serve before the store's migrations
have run. A gated factory accepts connections at once and pauses each one's
reading until the gate opens: a client that connects early waits and is
then served, instead of meeting a half-started server.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IProtocolFactory
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory


class StartGate:
    """Closed until :meth:`open` is called; then it stays open."""

    def __init__(self) -> None:
        self.is_open = False
        self._held: list[ProtocolWrapper] = []

    def hold(self, connection: ProtocolWrapper) -> None:
        if not self.is_open:
            connection.transport.pauseProducing()  # type: ignore[union-attr]
            self._held.append(connection)

    def open(self) -> None:
        if self.is_open:
            return
        self.is_open = True
        held, self._held = self._held, []
        for connection in held:
            if connection.connected:
                connection.transport.resumeProducing()  # type: ignore[union-attr]


class _GatedProtocol(ProtocolWrapper):
    factory: "GatedFactory"

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        self.factory.gate.hold(self)


class GatedFactory(WrappingFactory):
    """Wraps a factory so its connections read only once ``gate`` is open."""

    protocol = _GatedProtocol

    def __init__(self, wrapped: IProtocolFactory, gate: StartGate) -> None:
        super().__init__(wrapped)
        self.gate = gate
