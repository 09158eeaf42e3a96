"""A local fake of the OSRS Wiki prices API, for tests and offline runs.

It serves captures in the API's exact shapes with times moved to "now",
refuses generic User-Agents like the real API, answers 400 where the real
API does, and injects faults on demand (``inject`` here, or ``POST /_fault``)
so the client's retries and error handling can be exercised over a real
socket. It counts requests per path so tests can check how often it was
polled.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Optional

import orjson
from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from osrs_twisted.jobs.wiki import is_generic_user_agent
from osrs_twisted.jobs.wiki_parse import STEP_SECONDS, check_timestep
from osrs_twisted.records import TIMESTEPS, Timestep
from tests.wikifake.captures import JSON, Captures
from tests.wikifake.faults import Fault, FaultBoard

log = Logger()


class _BadRequest(Exception):
    """A parameter the real API answers 400 to."""


def _arg(request: IRequest, name: str) -> Optional[str]:
    values = request.args.get(name.encode("ascii")) if request.args else None
    return values[0].decode("utf-8", "replace") if values else None


def _int_arg(request: IRequest, name: str) -> Optional[int]:
    text = _arg(request, name)
    if text is None:
        return None
    if not text.isdigit():
        raise _BadRequest(f"Invalid {name}: {text!r} is not a non-negative integer")
    return int(text)


def _required(value: Optional[Any], name: str) -> Any:
    if value is None:
        raise _BadRequest(f"Missing required parameter: {name}")
    return value


def _emptied(payload: JSON) -> JSON:
    """The same shape with no data: ``[]`` or ``{"data": {}}``/``[]``, other keys kept."""
    if isinstance(payload, list):
        return []
    return {**payload, "data": type(payload["data"])()}


def _json(request: IRequest, status: int, body: bytes) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    return body


def _error(request: IRequest, status: int, message: str) -> bytes:
    return _json(request, status, orjson.dumps({"error": message}))


class WikiFake:
    """The fake API; one instance holds its captures, faults and counters."""

    app = Klein()

    def __init__(
        self,
        captures: Captures,
        reactor: IReactorTime,
        now: Optional[Callable[[], float]] = None,
    ) -> None:
        self.captures = captures
        self.reactor = reactor
        self.now: Callable[[], float] = now if now is not None else reactor.seconds
        self.faults = FaultBoard()
        self.requests: Counter[str] = Counter()

    def resource(self) -> IResource:
        """The Klein resource to serve (a ``Site``, or ``StubTreq`` in tests)."""
        resource: IResource = self.app.resource()
        return resource

    def inject(self, fault: Fault) -> None:
        """Misbehave as ``fault`` says from the next request on."""
        log.info("fake Wiki: injecting {fault}", fault=fault)
        self.faults.add(fault)

    def clear_faults(self, path: Optional[str] = None) -> None:
        """Behave again, everywhere or on ``path``."""
        self.faults.clear(path)

    async def _serve(self, request: IRequest, payload: Callable[[], JSON]) -> bytes:
        """The shared life of an API request: count, vet, misbehave, answer."""
        path = request.path.decode("utf-8", "replace")
        self.requests[path] += 1
        agent = request.getHeader("user-agent")
        if is_generic_user_agent(agent):
            return _error(request, 403, f"User-Agent {agent!r} is blocked: describe your tool")
        fault = self.faults.take(path)
        if fault is not None:
            log.info("fake Wiki: {kind} fault on {path}", kind=fault.kind, path=path)
        if fault is not None and fault.kind == "slow":
            await deferLater(self.reactor, fault.delay)
        if fault is not None and fault.kind == "status":
            if fault.retry_after is not None:
                request.setHeader(b"Retry-After", str(fault.retry_after).encode("ascii"))
            return _error(request, fault.status, f"injected fault: HTTP {fault.status}")
        try:
            body = payload()
        except _BadRequest as e:
            return _error(request, 400, str(e))
        if fault is not None and fault.kind == "empty":
            body = _emptied(body)
        encoded = orjson.dumps(body)
        if fault is not None and fault.kind == "malformed":
            encoded = encoded[: len(encoded) // 2]
        return _json(request, 200, encoded)

    @app.route("/mapping", methods=["GET"])
    async def mapping(self, request: IRequest) -> bytes:
        return await self._serve(request, lambda: self.captures.mapping)

    @app.route("/latest", methods=["GET"])
    async def latest(self, request: IRequest) -> bytes:
        return await self._serve(
            request,
            lambda: self.captures.latest_payload(self.now(), _int_arg(request, "id")),
        )

    def _bucket(self, request: IRequest, timestep: Timestep) -> JSON:
        timestamp = _int_arg(request, "timestamp")
        if timestamp is not None and timestamp % STEP_SECONDS[timestep]:
            raise _BadRequest(
                f"Invalid timestamp: {timestamp} is not divisible by {STEP_SECONDS[timestep]}"
            )
        return self.captures.bucket_payload(timestep, self.now(), timestamp)

    @app.route(f"/<any({', '.join(TIMESTEPS)}):timestep>", methods=["GET"])
    async def bucket(self, request: IRequest, timestep: str) -> bytes:
        step = check_timestep(timestep)
        return await self._serve(request, lambda: self._bucket(request, step))

    def _timeseries(self, request: IRequest) -> JSON:
        item_id = _required(_int_arg(request, "id"), "id")
        try:
            step = check_timestep(_required(_arg(request, "timestep"), "timestep"))
        except ValueError as e:
            raise _BadRequest(f"Invalid timestep: {e}") from None
        return self.captures.timeseries_payload(item_id, step, self.now())

    @app.route("/timeseries", methods=["GET"])
    async def timeseries(self, request: IRequest) -> bytes:
        return await self._serve(request, lambda: self._timeseries(request))

    @app.route("/_fault", methods=["POST"])
    def add_fault(self, request: IRequest) -> bytes:
        """Admin: inject a fault given as JSON (see :meth:`Fault.from_json`)."""
        try:
            body = orjson.loads(request.content.read())
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            fault = Fault.from_json(body)
        except (orjson.JSONDecodeError, ValueError) as e:
            return _error(request, 400, str(e))
        self.inject(fault)
        return _json(request, 201, orjson.dumps({"injected": fault.kind}))

    @app.route("/_fault", methods=["DELETE"])
    def delete_faults(self, request: IRequest) -> bytes:
        """Admin: clear every fault, or those of ``?path=``."""
        self.clear_faults(_arg(request, "path"))
        return _json(request, 200, orjson.dumps({"cleared": True}))

    @app.route("/_requests", methods=["GET"])
    def request_counts(self, request: IRequest) -> bytes:
        """Admin: requests received per API path."""
        return _json(request, 200, orjson.dumps(dict(self.requests)))
