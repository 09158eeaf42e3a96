"""The one Klein app every resource module adds its routes to, and JSON replies.

Resource modules define mixin classes whose methods are routes on ``app``;
:class:`osrs_twisted.http.api.HttpApi` combines them, so each route runs with
the injected state of one ``HttpApi`` instance (klein's non-global state).
"""

from __future__ import annotations

from typing import Any

import orjson
from klein import Klein
from twisted.web.iweb import IRequest

app = Klein()
app.url_map.strict_slashes = False


def json_response(request: IRequest, body: Any, status: int = 200) -> bytes:
    """Serialise ``body`` as the response, with its status and content type."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    return orjson.dumps(body)
