"""Item facts when the Wiki cannot be reached: an ``--items-file`` in
``/mapping`` shape, else the optional ``osrsreboxed`` package.

Both go through the Wiki client's strict ``/mapping`` parser, so offline
items are held to exactly the same rules as the Wiki's. No item data ships
with this project: ``osrsreboxed`` (GPL-3.0 code, Wiki-derived CC BY-NC-SA
3.0 data) is an optional extra (``pip install osrs-twisted[itemdb]``).
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Optional

import attrs
import orjson
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from osrs_twisted.jobs.wiki_parse import WikiPayloadError, parse_mapping
from osrs_twisted.records import Item

OSRSREBOXED = "osrsreboxed"
_OSRSREBOXED_DATA = ("docs", "items-complete.json")


class OfflineItemsError(Exception):
    """An offline item source exists but cannot be used."""


def load_items_file(path: Path) -> list[Item]:
    """Items from a JSON file in ``/mapping`` shape."""
    try:
        return parse_mapping(path.read_bytes())
    except (OSError, WikiPayloadError) as e:
        raise OfflineItemsError(f"--items-file {path}: {e}") from None


def _as_mapping_entry(entry: Any) -> Any:
    """An osrsreboxed item in ``/mapping`` shape (the icon is the Wiki's
    file name, ``<name>.png``; osrsreboxed carries image data instead)."""
    if not isinstance(entry, dict):
        return entry
    return {
        "id": entry.get("id"),
        "name": entry.get("name"),
        "examine": entry.get("examine"),
        "members": entry.get("members"),
        "lowalch": entry.get("lowalch"),
        "highalch": entry.get("highalch"),
        "limit": entry.get("buy_limit"),
        "value": entry.get("cost"),
        "icon": f"{entry.get('name')}.png",
    }


def _tradeable(entry: Any) -> bool:
    """On the GE and not osrsreboxed's duplicate of another item id."""
    return isinstance(entry, dict) and entry.get("tradeable_on_ge") is True and not entry.get("duplicate")


def load_osrsreboxed(package: str = OSRSREBOXED) -> Optional[list[Item]]:
    """GE-tradeable items from the installed package; None when not installed."""
    if importlib.util.find_spec(package) is None:
        return None
    data = resources.files(package).joinpath(*_OSRSREBOXED_DATA)
    try:
        everything = orjson.loads(data.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise OfflineItemsError(f"{package}: cannot read its item data: {e}") from None
    if not isinstance(everything, dict):
        raise OfflineItemsError(f"{package}: its item data is not an object keyed by id")
    entries = [_as_mapping_entry(entry) for entry in everything.values() if _tradeable(entry)]
    try:
        return parse_mapping(orjson.dumps(entries))
    except WikiPayloadError as e:
        raise OfflineItemsError(f"{package}: {e.detail}") from None


@attrs.frozen
class OfflineItems:
    """The offline sources in order of preference: the operator's
    ``items_file``, then ``package`` when installed. Loading (tens of MB of
    JSON for osrsreboxed) runs in the thread pool ``pool()`` gives, asked
    for only then (``reactor.getThreadPool`` creates the reactor's on use)."""

    reactor: IReactorFromThreads
    pool: Callable[[], ThreadPool]
    items_file: Optional[Path] = None
    package: str = OSRSREBOXED

    def load(self) -> Deferred[Optional[tuple[str, list[Item]]]]:
        """``(source, items)``, or None when no offline source exists."""
        return deferToThreadPool(self.reactor, self.pool(), self._load)

    def _load(self) -> Optional[tuple[str, list[Item]]]:
        if self.items_file is not None:
            return f"--items-file {self.items_file}", load_items_file(self.items_file)
        items = load_osrsreboxed(self.package)
        return None if items is None else (self.package, items)
