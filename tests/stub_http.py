"""``treq.testing.StubTreq`` with types: treq sets its methods in
``__init__``, out of mypy's sight, so the tests see it through the
:class:`StubHttp` protocol."""

from __future__ import annotations

from typing import Any, Protocol, cast

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.web.iweb import IResponse
from twisted.web.resource import IResource


class StubHttp(Protocol):
    """What the tests use of a ``StubTreq``: requests answered in memory by a
    resource, delivered when ``flush`` pumps the in-memory connection."""

    def request(self, method: str, url: str, **kwargs: Any) -> "Deferred[IResponse]": ...

    def get(self, url: str, **kwargs: Any) -> "Deferred[IResponse]": ...

    def content(self, response: IResponse) -> "Deferred[bytes]": ...

    def flush(self) -> None: ...


def stub_treq(resource: IResource) -> StubHttp:
    """A ``StubTreq`` over ``resource``."""
    return cast(StubHttp, StubTreq(resource))  # the methods StubHttp names are set by StubTreq.__init__
