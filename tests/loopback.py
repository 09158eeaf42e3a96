"""Loopback ports of the real reactor for the integration tests, and log
capture for any test case."""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogPublisher, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase


def listen(test: SynchronousTestCase, factory: IProtocolFactory) -> int:
    """Serve ``factory`` on an ephemeral 127.0.0.1 port of the real reactor
    until the test's cleanup; the port number. (A TCP listen completes at
    once: the endpoint's Deferred has already fired.)"""
    port = test.successResultOf(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory))
    test.addCleanup(port.stopListening)
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    return address.port


def logged_events(test: SynchronousTestCase, publisher: LogPublisher = globalLogPublisher) -> EventLoggingObserver:
    """The events ``publisher`` emits until the test's cleanup
    (``EventLoggingObserver.createWithCleanup`` for synchronous tests too)."""
    observer = EventLoggingObserver()
    publisher.addObserver(observer)
    test.addCleanup(publisher.removeObserver, observer)
    return observer
