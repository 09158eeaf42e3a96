"""A treq client for the OSRS Wiki real-time prices API.

Requests retry with exponential back-off and full jitter on what a CDN in
front of the Wiki throws transiently (429, 5xx, timeouts, dropped
connections), honouring ``Retry-After``; requests the Wiki refuses (400,
403, 404) and malformed payloads fail at once, since repeating them cannot
help and only adds load the Wiki's acceptable-use rules ask us to avoid.
"""

from __future__ import annotations

from random import random as _uniform
from typing import Any, Callable, Mapping, Optional, Protocol, TypeVar

import orjson
from twisted.internet import defer, error
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    PartialDownloadError,
    RequestTransmissionFailed,
    ResponseFailed,
    readBody,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from treq.client import HTTPClient

from osrs_twisted.jobs.wiki_parse import (
    STEP_SECONDS,
    WikiError,
    WikiPayloadError,
    check_timestep,
    parse_bucket,
    parse_latest,
    parse_mapping,
    parse_timeseries,
)
from osrs_twisted.store.records import Item, LatestPrice, PriceBucket

__all__ = [
    "GENERIC_USER_AGENT_PREFIXES",
    "HTTPGetter",
    "WikiBadRequest",
    "WikiClient",
    "WikiError",
    "WikiForbidden",
    "WikiHTTPError",
    "WikiNotFound",
    "WikiPayloadError",
    "WikiUnavailable",
    "is_generic_user_agent",
]

log = Logger()

_T = TypeVar("_T")

GENERIC_USER_AGENT_PREFIXES: tuple[str, ...] = (
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "curl/",
    "wget/",
    "java/",
    "okhttp",
    "go-http-client",
    "twisted",
    "treq",
)
"""Library default agents the Wiki blocks up front (compared case-insensitively)."""

_ERROR_TEXT_LIMIT = 200

_TRANSIENT_ERRORS = (
    error.ConnectError,
    error.ConnectionLost,
    error.DNSLookupError,
    PartialDownloadError,
    RequestTransmissionFailed,
    ResponseFailed,
)
"""Failures of one attempt (besides 429 and 5xx) that a retry may fix."""


def is_generic_user_agent(user_agent: Optional[str]) -> bool:
    """Whether the Wiki would block this agent: empty or a library default."""
    agent = (user_agent or "").strip().lower()
    return not agent or agent.startswith(GENERIC_USER_AGENT_PREFIXES)


class HTTPGetter(Protocol):
    """The part of ``treq.client.HTTPClient`` (or ``StubTreq``) the client uses."""

    def get(
        self, url: str, *, params: Mapping[str, str], headers: Headers
    ) -> defer.Deferred[Any]:
        """Start a GET; fires with an ``IResponse``."""


class WikiHTTPError(WikiError):
    """The Wiki answered with an error status that retrying cannot fix."""

    hint = ""
    """What the operator can do about it, appended to the message."""

    def __init__(self, endpoint: str, status: int, api_error: Optional[str]) -> None:
        detail = f": {api_error}" if api_error else ""
        super().__init__(f"Wiki {endpoint} answered HTTP {status}{detail}{self.hint}")
        self.endpoint = endpoint
        self.status = status
        self.api_error = api_error


class WikiBadRequest(WikiHTTPError):
    """400: a bad parameter (a timestamp off the step, a missing ``id``)."""


class WikiForbidden(WikiHTTPError):
    """403: the Wiki blocked our User-Agent."""

    hint = (
        " (the Wiki blocks generic or abusive User-Agents: set --wiki-user-agent"
        " to name this tool and a contact)"
    )


class WikiNotFound(WikiHTTPError):
    """404: the base URL or the endpoint is wrong."""


_STATUS_ERRORS: Mapping[int, type[WikiHTTPError]] = {
    400: WikiBadRequest,
    403: WikiForbidden,
    404: WikiNotFound,
}


class WikiUnavailable(WikiError):
    """Every attempt failed transiently (429, 5xx, timeouts, connection errors)."""

    def __init__(self, endpoint: str, attempts: int, last: str) -> None:
        super().__init__(f"Wiki {endpoint} failed after {attempts} attempts; last: {last}")
        self.endpoint = endpoint
        self.attempts = attempts
        self.last = last


class _Transient(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: Optional[float] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _api_error(body: bytes) -> Optional[str]:
    """The API's ``{"error": ...}`` text, or the start of a non-JSON body."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:_ERROR_TEXT_LIMIT] or None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return str(decoded["error"])[:_ERROR_TEXT_LIMIT]
    return None


def _retry_after(response: IResponse) -> Optional[float]:
    """``Retry-After`` in its seconds form; the HTTP-date form is ignored."""
    for value in response.headers.getRawHeaders("retry-after") or []:
        if value.strip().isdigit():
            return float(value.strip())
    return None


class WikiClient:
    """Fetches and parses the Wiki prices API's endpoints.

    Every method returns a Deferred of store records. ``reactor`` drives
    timeouts and the waits between attempts (a ``Clock`` in tests); ``http``
    defaults to a treq client on its own connection pool, closed by
    :meth:`close`. ``timeout`` bounds one attempt (request and body);
    ``backoff_cap`` bounds every wait, ``Retry-After`` included; ``random``
    (uniform in [0, 1)) draws the jitter.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        base_url: str,
        user_agent: str,
        http: Optional[HTTPGetter] = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        random: Callable[[], float] = _uniform,
    ) -> None:
        if is_generic_user_agent(user_agent):
            raise ValueError(
                f"Wiki User-Agent {user_agent!r} is empty or a generic library agent, "
                "which the OSRS Wiki blocks: set --wiki-user-agent to name this tool "
                "and a contact, e.g. 'osrs-twisted/1.0 (you@example.com)'"
            )
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._reactor = reactor
        self._base_url = base_url.rstrip("/")
        self._headers = Headers({"User-Agent": [user_agent], "Accept": ["application/json"]})
        self._pool: Optional[HTTPConnectionPool] = None
        if http is None:
            self._pool = HTTPConnectionPool(reactor)
            http = HTTPClient(Agent(reactor, pool=self._pool))
        self._http: HTTPGetter = http
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._random = random

    def close(self) -> defer.Deferred[None]:
        """Close the connections of the pool this client created, if any."""
        if self._pool is None:
            return defer.succeed(None)
        return self._pool.closeCachedConnections()

    def mapping(self) -> defer.Deferred[list[Item]]:
        """Every item's facts (``/mapping``; the Wiki asks for at most daily)."""
        return self._fetch("/mapping", {}, parse_mapping)

    def latest(self) -> defer.Deferred[list[LatestPrice]]:
        """The newest high and low of every traded item, in one request."""
        return self._fetch("/latest", {}, parse_latest)

    def bucket(
        self, timestep: str, timestamp: Optional[int] = None
    ) -> defer.Deferred[tuple[int, list[PriceBucket]]]:
        """One averaged bucket of every item: its start and its rows.

        An unknown timestep or a timestamp off the step is a programming
        error: ``ValueError`` at once, before any request.
        """
        step = check_timestep(timestep)
        params: dict[str, str] = {}
        if timestamp is not None:
            if timestamp % STEP_SECONDS[step]:
                raise ValueError(f"timestamp {timestamp} is not a multiple of {step}")
            params["timestamp"] = str(timestamp)
        return self._fetch(f"/{step}", params, lambda body: parse_bucket(body, step))

    def timeseries(self, item_id: int, timestep: str) -> defer.Deferred[list[PriceBucket]]:
        """Up to 365 buckets of one item, oldest first."""
        step = check_timestep(timestep)
        return self._fetch(
            "/timeseries",
            {"id": str(item_id), "timestep": step},
            lambda body: parse_timeseries(body, item_id, step),
        )

    def _fetch(
        self, endpoint: str, params: Mapping[str, str], parse: Callable[[bytes], _T]
    ) -> defer.Deferred[_T]:
        async def fetch() -> _T:
            return parse(await self._get(endpoint, params))

        return defer.Deferred.fromCoroutine(fetch())

    async def _get(self, endpoint: str, params: Mapping[str, str]) -> bytes:
        """The body of a 200 answer, retrying transient failures."""
        attempt = 1
        while True:
            try:
                return await self._attempt(endpoint, params)
            except _Transient as transient:
                if attempt >= self._max_attempts:
                    log.error(
                        "Wiki {endpoint} gave up after {attempts} attempts: {reason}",
                        endpoint=endpoint,
                        attempts=attempt,
                        reason=transient.reason,
                    )
                    raise WikiUnavailable(endpoint, attempt, transient.reason) from None
                delay = self._delay(attempt, transient.retry_after)
                log.warn(
                    "Wiki {endpoint} attempt {attempt}/{max_attempts} failed ({reason});"
                    " retrying in {delay}s",
                    endpoint=endpoint,
                    attempt=attempt,
                    max_attempts=self._max_attempts,
                    reason=transient.reason,
                    delay=round(delay, 3),
                )
                await deferLater(self._reactor, delay)
                attempt += 1

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """Retry-After when given, else full jitter; both capped."""
        if retry_after is not None:
            return min(retry_after, self._backoff_cap)
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return self._random() * ceiling

    async def _attempt(self, endpoint: str, params: Mapping[str, str]) -> bytes:
        """One request; raises ``_Transient`` for what a retry may fix."""

        def read(response: IResponse) -> defer.Deferred[tuple[IResponse, bytes]]:
            return readBody(response).addCallback(lambda body: (response, body))

        request = self._http.get(
            self._base_url + endpoint, params=params, headers=self._headers
        )
        exchange = request.addCallback(read).addTimeout(self._timeout, self._reactor)
        try:
            response, body = await exchange
        except defer.TimeoutError:
            raise _Transient(f"no complete answer within {self._timeout}s") from None
        except _TRANSIENT_ERRORS as e:
            raise _Transient(f"{type(e).__name__}: {e}") from None
        status = response.code
        if status == 200:
            return body
        if status == 429 or status >= 500:
            detail = _api_error(body)
            reason = f"HTTP {status}" + (f": {detail}" if detail else "")
            raise _Transient(reason, _retry_after(response))
        raise _STATUS_ERRORS.get(status, WikiHTTPError)(endpoint, status, _api_error(body))
