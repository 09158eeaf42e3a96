"""The route template a request matched, for metrics labels.

Each route's handler marks its request with the template it was declared
with (``/items/<int:item_id>``), never the raw path: the label set stays
bounded whatever paths clients send. A request no route matched reads as
``unmatched``.
"""

from __future__ import annotations

from twisted.web.iweb import IRequest

from osrs_twisted.telemetry.recorders import UNMATCHED

_ROUTE_ATTRIBUTE = "osrs_route_template"


def mark_route(request: IRequest, template: str) -> None:
    setattr(request, _ROUTE_ATTRIBUTE, template)


def route_of(request: IRequest) -> str:
    template: str = getattr(request, _ROUTE_ATTRIBUTE, UNMATCHED)
    return template
