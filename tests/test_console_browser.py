"""The console in headless Chromium against the real server on loopback
(see ``tests/browser.py``): every page loads without a console error and
draws, the fleet lives, untrusted text stays text, admin buttons need the
token, and a server that goes away shows as disconnected."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests import browser
from tests.browser import (
    ADMIN_TOKEN,
    Server,
    png_colours,
    require_browser,
    severe_logs,
    start_browser,
    wait_for,
)

#: Pages refresh this often in the tests (seconds, the pages' ``?refresh=``).
REFRESH = 0.5


class ConsoleBrowserTests(SynchronousTestCase):
    timeout = 180

    def setUp(self) -> None:
        require_browser()
        self.workdir = Path(self.mktemp()).resolve()
        self.workdir.mkdir(parents=True)
        self.server = Server(self.workdir)
        self.addCleanup(self.server.stop)
        self.server.wait_ready()
        self.driver = start_browser(self.workdir / "profile")
        self.addCleanup(self.driver.quit)

    # helpers

    def open(self, page: str, **query: str) -> None:
        """Open a console page and wait until its first refresh has rendered."""
        params = "&".join(f"{k}={quote(v, safe='')}" for k, v in {**query, "refresh": str(REFRESH)}.items())
        self.driver.get(f"{self.server.base}/ui/{page}?{params}")
        wait_for(f"{page} to render", lambda: self.js("return document.body.dataset.rendered"))

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def text(self, selector: str) -> str:
        return str(self.js("const n = document.querySelector(arguments[0]); return n && n.textContent;", selector))

    def screenshot(self, name: str) -> None:
        """Save the page under the test's folder; a blank or unrendered page fails."""
        path = self.workdir / f"{name}.png"
        self.assertTrue(self.driver.save_screenshot(str(path)), name)
        png = path.read_bytes()
        self.assertGreater(len(png), 5000, f"{name}: the screenshot is suspiciously small")
        self.assertGreater(png_colours(png), 16, f"{name}: the screenshot is blank")
        self.assertTrue(self.js("return document.querySelector('main').innerText.trim().length > 20"), name)

    def assertNoConsoleErrors(self, page: str) -> None:
        self.assertEqual(severe_logs(self.driver), [], f"{page}: the browser console has errors")

    def chart_points(self, chart_id: str) -> list[int]:
        return list(self.js(
            "return [...document.querySelectorAll(`#${arguments[0]} [data-points]`)]"
            ".map(n => Number(n.dataset.points))",
            chart_id,
        ))

    def rows(self, table_id: str) -> dict[str, str]:
        """Each row of a table by its key, as the text of its cells."""
        return dict(self.js(
            "return [...document.querySelectorAll(`#${arguments[0]} tbody tr[data-key]`)]"
            ".map(tr => [tr.dataset.key, [...tr.cells].map(td => td.textContent).join(' | ')])",
            table_id,
        ))

    # tests

    def test_every_page_loads_clean_and_draws(self) -> None:
        server = self.server
        server.infer(20)
        for minute in range(3):
            server.heartbeat("bot-1", task="FISHING", hp=40, x=3200, y=3200, xpGained={"fishing": 1000 * minute})
        wait_for("a sample of the inference counters", lambda: server.get("/console/inference-history")["points"])
        pages = {
            "index.html": {},
            "fleet.html": {},
            "bot.html": {"id": "bot-1"},
            "inference.html": {},
            "jobs.html": {},
            "market.html": {},
            "item.html": {"id": "4151"},
        }
        for page, query in pages.items():
            self.open(page, **query)
            self.assertIn("osrs console", self.driver.title)
            self.assertNoConsoleErrors(page)
            self.screenshot(page.removesuffix(".html"))

        self.open("item.html", id="4151")
        buckets = server.get("/items/4151/prices?limit=300")["buckets"]
        highs = sum(1 for b in buckets if b["avgHighPrice"] is not None)
        lows = sum(1 for b in buckets if b["avgLowPrice"] is not None)
        self.assertTrue(highs and lows)
        self.assertEqual(self.chart_points("price-chart"), [highs, lows])
        self.assertEqual(self.chart_points("volume-chart"), [len(buckets)])
        self.js("document.querySelector('button[data-timestep=\"1h\"]').click()")
        hourly = len(server.get("/items/4151/prices?timestep=1h&limit=300")["buckets"])
        wait_for("the 1h chart", lambda: self.chart_points("volume-chart") == [hourly])

        self.open("bot.html", id="bot-1")
        self.assertEqual(self.chart_points("xp-chart"), [3], "one point per heartbeat carrying XP")
        self.assertEqual(self.js("return document.querySelectorAll('#history tbody tr').length"), 3)

        self.open("inference.html")
        wait_for("the requests chart", lambda: (self.chart_points("chart-rps") or [0])[0] >= 1)
        self.assertIn("demo", self.text("#models-table"))
        self.assertNoConsoleErrors("inference.html (after refreshes)")

    def test_fleet_lists_updates_and_marks_silent_bots_late(self) -> None:
        server = self.server
        server.heartbeat("bot-a", task="MINING")
        server.heartbeat("bot-b", task="FISHING")
        self.open("fleet.html", lateAfter="3", goneAfter="600")
        wait_for("both bots", lambda: set(self.rows("fleet")) == {"bot-a", "bot-b"})
        self.assertIn("alive", self.rows("fleet")["bot-b"])
        server.heartbeat("bot-c", task="WOODCUTTING")
        wait_for("the new bot without a reload", lambda: "WOODCUTTING" in self.rows("fleet").get("bot-c", ""))

        def only_b_is_late() -> bool:
            server.heartbeat("bot-a", task="SMITHING")
            server.heartbeat("bot-c", task="WOODCUTTING")
            rows = self.rows("fleet")
            return "late" in rows["bot-b"] and "alive" in rows["bot-a"] and "SMITHING" in rows["bot-a"]

        wait_for("bot-b to go late while the others stay alive", only_b_is_late, every=0.5)
        self.js("const s = document.getElementById('fleet-search'); s.value = 'smith';"
                "s.dispatchEvent(new Event('input'));")
        self.assertEqual(set(self.rows("fleet")), {"bot-a"}, "the filter keeps matching bots only")
        self.assertNoConsoleErrors("fleet.html")

        server.stop()
        wait_for("the disconnected banner", lambda: self.js(
            "const b = document.getElementById('disconnected'); return b && !b.hidden && b.textContent"))
        self.assertTrue(self.js("return document.body.classList.contains('disconnected')"))
        self.screenshot("fleet-disconnected")

    def test_a_large_fleet_draws_only_the_rows_in_view(self) -> None:
        bots = 450
        for n in range(bots):
            self.server.heartbeat(f"bot-{n:04d}", task="MINING")
        self.open("fleet.html")
        counted = "return document.getElementById('fleet').dataset.rows"
        wait_for("every bot counted", lambda: self.js(counted) == str(bots))
        drawn = self.rows("fleet")
        self.assertIn("bot-0000", drawn)
        self.assertLess(len(drawn), bots, "rows out of view are not in the DOM")
        self.js("window.scrollTo(0, document.body.scrollHeight)")
        wait_for("the last bot after scrolling", lambda: "bot-0449" in self.rows("fleet"))
        self.assertNotIn("bot-0000", self.rows("fleet"))
        self.assertNoConsoleErrors("fleet.html (windowed)")

    def test_injected_markup_renders_as_text(self) -> None:
        name = "<script>window.__pwned = 1</script>"
        task = '<img src=x onerror="window.__pwned = 2">'
        self.server.heartbeat(name, task=task, hp=1, xpGained={"<b>magic</b>": 5})
        self.open("fleet.html")
        rows = self.rows("fleet")
        self.assertIn(name, rows)
        self.assertIn(task, rows[name])
        self.assertEqual(self.js("return document.querySelectorAll('main script, main img').length"), 0)
        self.assertEqual(self.js("return document.querySelector('#fleet tbody a').textContent"), name)
        self.js("document.querySelector('#fleet tbody a').click()")
        wait_for("the bot page", lambda: "bot.html" in self.driver.current_url and self.js(
            "return document.body.dataset.rendered"))
        self.assertEqual(self.text("#title"), f"Bot {name}")
        self.assertIn(task, self.text("#bot-summary"))
        self.assertIn("<b>magic</b>", self.text("#bot-summary"))
        self.assertIsNone(self.js("return window.__pwned === undefined ? null : window.__pwned"))
        self.assertEqual(self.js("return document.querySelectorAll('main script, main img, main b').length"), 0)
        self.assertNoConsoleErrors("bot.html")
        self.screenshot("injected")

    def test_admin_buttons_need_the_token(self) -> None:
        server = self.server

        def manual() -> list[Any]:
            return [r for r in server.get("/tasks/runs?job=prune&limit=100")["runs"] if r["trigger"] == "manual"]

        self.open("jobs.html")
        self.js("document.querySelector('button.run-now[data-job=\"prune\"]').click()")
        refusal = wait_for("the refusal", lambda: "refused" in self.text("#notice") and self.text("#notice"))
        self.assertIn("401", refusal)
        self.assertIn("Sign in with the admin token", refusal)
        self.assertEqual(manual(), [], "nothing ran without the token")
        severe_logs(self.driver)  # the refused POST is logged by the browser as a failed load

        self.js("document.getElementById('token').value = arguments[0]; document.getElementById('signin').click();",
                ADMIN_TOKEN)
        wait_for("the signed-in page", lambda: self.js(
            "return document.getElementById('logout') && document.body.dataset.rendered"))
        self.assertEqual(self.js("return sessionStorage.getItem('osrs-console-admin-token')"), ADMIN_TOKEN)
        self.js("document.querySelector('button.run-now[data-job=\"prune\"]').click()")
        wait_for("the run to be accepted", lambda: "Run prune: done." in self.text("#notice"))
        runs = wait_for("the manual run", manual)
        self.assertEqual(len(runs), 1)
        wait_for("the run in the table", lambda: f"#{runs[0]['id']}" in self.text("#runs-table"))
        self.assertNoConsoleErrors("jobs.html (signed in)")

        self.open("inference.html")
        if "/models/reload" in server.get("/openapi.json")["paths"]:
            self.js("document.getElementById('reload').click()")
            wait_for("the reload outcome", lambda: "Reload models: done." in self.text("#notice"))
        else:
            wait_for("the honest line", lambda: "Reloading models: not available on this server." in self.text(
                "#models-actions"))


class RequireBrowserTests(SynchronousTestCase):
    """Without Chromium the browser tests skip, or fail where CI requires them."""

    def setUp(self) -> None:
        self.patch(browser, "CHROMIUM", "/nonexistent/chromium")

    def test_skips_with_the_reason(self) -> None:
        self.patch(os, "environ", {k: v for k, v in os.environ.items() if k != "OSRS_REQUIRE_BROWSER"})
        with self.assertRaises(SkipTest) as raised:
            require_browser()
        self.assertIn("/nonexistent/chromium", str(raised.exception))

    def test_fails_when_required(self) -> None:
        self.patch(os, "environ", {**os.environ, "OSRS_REQUIRE_BROWSER": "1"})
        with self.assertRaises(AssertionError) as raised:
            require_browser()
        self.assertIn("OSRS_REQUIRE_BROWSER=1", str(raised.exception))
