"""Listening addresses that several worker processes can serve.

With ``--workers`` > 1 the supervisor binds every address itself and hands
the sockets to its workers, which adopt them. Two kinds can be shared:

- ``tcp:`` (IPv4 or IPv6): one ``SO_REUSEPORT`` socket per worker, so the
  kernel spreads new connections over the workers by hashing each one
  (measured: within 4 % of an even split at 2,000 bots, where one shared
  accept queue drifted to 18 %; see docs/operations.md);
- ``unix:``: one socket shared by every worker (``SO_REUSEPORT`` does not
  apply to UNIX sockets).

Any other kind (``ssl:``, ``systemd:``, ...) is refused at start.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Callable, Literal

import attrs
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.internet.endpoints import AdoptedStreamServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor

Kind = Literal["tcp", "unix"]

#: Makes the listening service for one endpoint description and factory.
Listen = Callable[[str, IProtocolFactory], IService]

_SHAREABLE_PREFIXES = ("tcp", "tcp6", "unix")
SHAREABLE = "with --workers above 1 only tcp: and unix: listeners can be shared"


@attrs.frozen
class ListenAddress:
    """One ``--http`` or ``--tcp`` address, parsed as its endpoint would listen."""

    description: str
    kind: Kind
    family: int
    #: The interface (tcp) or the socket's path (unix).
    host: str
    port: int
    backlog: int
    mode: int = 0o666


def parse_listen_address(description: str) -> ListenAddress:
    """The address ``description`` names; ValueError for a kind that cannot
    be shared. The endpoint listens on a reactor that only records, so the
    parse is the endpoint's own."""
    if description.split(":", 1)[0].strip().lower() not in _SHAREABLE_PREFIXES:
        raise ValueError(SHAREABLE)
    reactor = MemoryReactor()
    endpoints.serverFromString(reactor, description).listen(Factory())
    if reactor.tcpServers:
        [(port, _, backlog, interface)] = reactor.tcpServers
        family = socket.AF_INET6 if ":" in interface else socket.AF_INET
        return ListenAddress(description, "tcp", family, interface, port, backlog)
    if reactor.unixServers:
        [(path, _, backlog, mode, _want_pid)] = reactor.unixServers
        return ListenAddress(description, "unix", socket.AF_UNIX, path, 0, backlog, mode)
    raise ValueError(SHAREABLE)


def _tcp_socket(address: ListenAddress, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((address.host, port))
    except OSError as e:
        sock.close()
        raise CannotListenError(address.host, port, e) from None
    return sock


def bind_tcp(address: ListenAddress, count: int) -> list[socket.socket]:
    """``count`` listening sockets in one ``SO_REUSEPORT`` group on the
    address. A plain bind first, so a port someone else holds (even with
    ``SO_REUSEPORT`` of their own) fails here, as a single process would."""
    port = address.port
    if port:
        _tcp_socket(address, port, reuse_port=False).close()
    group: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _tcp_socket(address, port, reuse_port=True)
            group.append(sock)
            port = sock.getsockname()[1]
            sock.listen(address.backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in group:
            sock.close()
        raise
    return group


def bind_unix(address: ListenAddress) -> socket.socket:
    """One listening UNIX socket, made ``mode``; a stale socket file left by
    a process that is gone is replaced, a live one fails the start."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _remove_stale(address.host)
        sock.bind(address.host)
        os.chmod(address.host, address.mode)
        sock.listen(address.backlog)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise CannotListenError(address.host, 0, e) from None
    return sock


def _remove_stale(path: str) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
    else:
        raise OSError(errno.EADDRINUSE, "another process is listening on it")
    finally:
        probe.close()


@attrs.frozen
class AdoptedListener:
    """A socket a worker received: its descriptor in the worker and family."""

    description: str
    fd: int
    family: int


def adopted_service(reactor: object, listener: AdoptedListener, factory: IProtocolFactory) -> IService:
    """A listening service over an inherited socket, failing its start
    loudly as ``strports.service`` does."""
    endpoint = AdoptedStreamServerEndpoint(reactor, listener.fd, listener.family)
    service = StreamServerEndpointService(endpoint, factory)
    service._raiseSynchronously = True
    return service

