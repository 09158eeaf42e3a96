"""Start-up gating: HTTP connections are accepted at once but read only once
the store's schema is current and the catalog has been loaded."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from osrs_twisted.gate import GatedFactory, StartGate
from osrs_twisted.service import HttpReadiness
from osrs_twisted.store.interface import SchemaTooNew


class _Recorder(Protocol):
    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data


def connect(factory: GatedFactory) -> tuple[Any, StringTransport]:
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


class StartGateTests(SynchronousTestCase):
    def test_held_until_open(self) -> None:
        gate = StartGate()
        factory = GatedFactory(Factory.forProtocol(_Recorder), gate)
        _, early = connect(factory)
        self.assertEqual(early.producerState, "paused")
        gate.open()
        self.assertEqual(early.producerState, "producing")
        _, late = connect(factory)
        self.assertEqual(late.producerState, "producing")

    def test_data_reaches_wrapped_protocol(self) -> None:
        gate = StartGate()
        gate.open()
        protocol, _ = connect(GatedFactory(Factory.forProtocol(_Recorder), gate))
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertEqual(protocol.wrappedProtocol.received, b"GET / HTTP/1.1\r\n")


class _FakeStoreService:
    def __init__(self) -> None:
        self.started: Deferred[None] = Deferred()

    def whenStarted(self) -> "Deferred[None]":
        return self.started


class _FakeCatalog:
    def __init__(self) -> None:
        self.loaded: Deferred[None] = Deferred()
        self.starts = 0

    def whenLoaded(self) -> "Deferred[None]":
        self.starts += 1
        return self.loaded


class HttpReadinessTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.gate = StartGate()
        self.store = _FakeStoreService()
        self.catalog = _FakeCatalog()
        # Fakes with only what readiness reads of the store service and the catalog.
        self.readiness = HttpReadiness(self.reactor, self.gate, self.store, self.catalog)  # type: ignore[arg-type]

    def test_catalog_starts_after_store_then_gate_opens(self) -> None:
        self.readiness.startService()
        self.assertEqual(self.catalog.starts, 0, "the catalog must not read before migrations")
        self.store.started.callback(None)
        self.assertEqual(self.catalog.starts, 1)
        self.assertFalse(self.gate.is_open)
        self.catalog.loaded.callback(None)
        self.assertTrue(self.gate.is_open)

    def test_schema_too_new_stops_the_server(self) -> None:
        self.readiness.startService()
        self.store.started.errback(SchemaTooNew("database schema 9 is newer than this code's 3"))
        self.assertTrue(self.reactor.hasStopped)
        self.assertFalse(self.gate.is_open)
        self.assertEqual(self.catalog.starts, 0)
