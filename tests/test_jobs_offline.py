"""The offline item sources: an ``--items-file`` and an osrsreboxed-shaped
package (a tiny stand-in built here; the real one is never required)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
from twisted.trial.unittest import SynchronousTestCase, TestCase

from osrs_twisted.jobs.offline import OfflineItemsError, load_items_file, load_osrsreboxed
from osrs_twisted.records import Item
from tests.jobs_helpers import captures_dir, offline_items

WHIP = {
    "id": 4151, "name": "Abyssal whip", "examine": "A weapon from the Abyss.", "members": True,
    "tradeable_on_ge": True, "duplicate": False, "cost": 120001, "lowalch": 48000, "highalch": 72000,
    "buy_limit": 70, "icon": "iVBORw0KGgo...", "weight": 0.453,
}  # fmt: skip
COAL = {**WHIP, "id": 453, "name": "Coal", "examine": "Hmm a non-renewable energy source!", "members": False,
        "cost": 45, "lowalch": 18, "highalch": 27, "buy_limit": None}  # fmt: skip
UNTRADEABLE = {**WHIP, "id": 20, "name": "Cape of legends", "tradeable_on_ge": False}
DUPLICATE = {**WHIP, "id": 4178, "duplicate": True}


class ItemsFileTests(SynchronousTestCase):
    def test_mapping_shaped_file(self) -> None:
        items = {item.id: item for item in load_items_file(captures_dir() / "mapping.json")}
        self.assertEqual(len(items), 15)
        self.assertIsNone(items[453].limit)

    def test_bad_file_names_it(self) -> None:
        path = Path(self.mktemp())
        path.write_bytes(b'[{"id": 1, "name": "x"}]')
        with self.assertRaises(OfflineItemsError) as raised:
            load_items_file(path)
        self.assertIn(str(path), str(raised.exception))
        self.assertIn("'examine'", str(raised.exception))
        self.assertRaises(OfflineItemsError, load_items_file, path.with_name("missing.json"))


class OsrsreboxedTests(SynchronousTestCase):
    def fake_package(self, items: Any) -> str:
        """An importable package laid out like osrsreboxed, removed at cleanup."""
        root = Path(self.mktemp())
        name = "fake_osrsreboxed_" + uuid.uuid4().hex[:8]
        (root / name / "docs").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "docs" / "items-complete.json").write_bytes(orjson.dumps(items))
        sys.path.insert(0, str(root))
        self.addCleanup(sys.path.remove, str(root))
        self.addCleanup(sys.modules.pop, name, None)
        return name

    def test_ge_tradeable_items_in_mapping_terms(self) -> None:
        entries = {str(e["id"]): e for e in (WHIP, COAL, UNTRADEABLE, DUPLICATE)}
        items = load_osrsreboxed(self.fake_package(entries))
        assert items is not None
        self.assertEqual(
            items[0],
            Item(4151, "Abyssal whip", "A weapon from the Abyss.", True, 48000, 72000, 70, 120001, "Abyssal whip.png"),
        )
        self.assertEqual([item.id for item in items], [4151, 453])
        self.assertIsNone(items[1].limit)

    def test_not_installed(self) -> None:
        self.assertIsNone(load_osrsreboxed("no_such_package_" + uuid.uuid4().hex))

    def test_malformed_data(self) -> None:
        name = self.fake_package({"1": {**WHIP, "members": "yes"}})
        with self.assertRaises(OfflineItemsError) as raised:
            load_osrsreboxed(name)
        self.assertIn("'members'", str(raised.exception))
        self.assertRaises(OfflineItemsError, load_osrsreboxed, self.fake_package([WHIP]))


class OfflineItemsTests(TestCase):
    async def test_items_file_preferred_and_loaded_in_a_thread(self) -> None:
        path = captures_dir() / "mapping.json"
        loaded = await offline_items(path).load()
        assert loaded is not None
        self.assertEqual((loaded[0], len(loaded[1])), (f"--items-file {path}", 15))

    async def test_nothing_offline(self) -> None:
        source = offline_items(None, "no_such_package_" + uuid.uuid4().hex)
        self.assertIsNone(await source.load())
