"""The console's static pages: package data served from memory with their
content types, the security headers and ETags; ``/`` and ``/ui`` redirect;
every other path still reaches the API."""

from __future__ import annotations

import re
from typing import Mapping, Optional

from treq.testing import RequestTraversalAgent
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import readBody
from twisted.web.http_headers import Headers
from twisted.web.resource import IResource

from osrs_twisted.console.pages import CONTENT_SECURITY_POLICY, ConsolePages, ConsoleRoot, load_assets, with_console
from osrs_twisted.health import HealthRegistry
from osrs_twisted.http.api import HealthApi

PAGES = ("index.html", "fleet.html", "bot.html", "inference.html", "jobs.html", "market.html", "item.html")


class Client:
    """Requests against a resource tree in memory."""

    def __init__(self, test: SynchronousTestCase, resource: IResource) -> None:
        self.test = test
        self.agent = RequestTraversalAgent(resource)

    def request(
        self, path: str, method: str = "GET", headers: Optional[Mapping[str, str]] = None
    ) -> tuple[int, Headers, bytes]:
        raw = Headers({k: [v] for k, v in (headers or {}).items()})
        url = f"http://osrs.test{path}".encode()
        response = self.test.successResultOf(self.agent.request(method.encode(), url, raw))
        body = self.test.successResultOf(readBody(response))
        return response.code, response.headers, body


def header(headers: Headers, name: str) -> Optional[str]:
    values = headers.getRawHeaders(name)
    return None if not values else str(values[0])


class AssetTests(SynchronousTestCase):
    def test_every_page_and_module_is_shipped(self) -> None:
        assets = load_assets()
        for page in PAGES:
            self.assertIn(page, assets)
            module = page.replace(".html", ".js")
            self.assertIn(module, assets, "each page has its module")
            html = assets[page].body.decode()
            self.assertIn(f'<script type="module" src="{module}"></script>', html)
        self.assertEqual(assets["console.js"].content_type, b"text/javascript; charset=utf-8")

    def test_pages_reference_nothing_outside_the_package(self) -> None:
        assets = load_assets()
        for name, asset in assets.items():
            text = asset.body.decode()
            self.assertNotRegex(text, r"(?i)(src|href)=\"(https?:)?//", name)
            self.assertNotRegex(text, r"(?i)@import|url\(\s*['\"]?https?:", name)
            if name.endswith(".html"):
                self.assertNotRegex(text, r"(?i)<script(?![^>]*\bsrc=)", f"{name}: inline script")
                self.assertNotIn("style=", text, f"{name}: inline style")
                for referenced in re.findall(r'(?:src|href)="([^"?]+)', text):
                    self.assertIn(referenced, assets, f"{name} links {referenced}")

    def test_modules_never_write_markup(self) -> None:
        for name, asset in load_assets().items():
            if name.endswith(".js"):
                text = asset.body.decode()
                for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                    self.assertNotIn(sink, text, f"{name} uses {sink}")


class ServingTests(SynchronousTestCase):
    def setUp(self) -> None:
        api = HealthApi(HealthRegistry()).resource()
        self.client = Client(self, with_console(api))

    def test_content_types_and_security_headers(self) -> None:
        for path, kind in (
            ("/ui/", "text/html; charset=utf-8"),
            ("/ui/fleet.html", "text/html; charset=utf-8"),
            ("/ui/console.js", "text/javascript; charset=utf-8"),
            ("/ui/console.css", "text/css; charset=utf-8"),
            ("/ui/favicon.svg", "image/svg+xml"),
        ):
            code, headers, body = self.client.request(path)
            self.assertEqual((code, header(headers, "Content-Type")), (200, kind), path)
            self.assertEqual(header(headers, "Content-Security-Policy"), CONTENT_SECURITY_POLICY)
            self.assertIn("default-src 'self'", CONTENT_SECURITY_POLICY)
            self.assertEqual(header(headers, "X-Content-Type-Options"), "nosniff")
            self.assertEqual(header(headers, "Cache-Control"), "no-cache")
            self.assertTrue(body)
        index = self.client.request("/ui/")[2]
        self.assertEqual(index, self.client.request("/ui/index.html")[2])

    def test_etag_revalidates_to_304(self) -> None:
        _, headers, _ = self.client.request("/ui/console.js")
        etag = header(headers, "ETag")
        assert etag is not None
        code, _, body = self.client.request("/ui/console.js", headers={"If-None-Match": etag})
        self.assertEqual((code, body), (304, b""))
        self.assertEqual(self.client.request("/ui/console.js", headers={"If-None-Match": '"other"'})[0], 200)

    def test_redirects_to_the_console(self) -> None:
        for path in ("/", "/ui"):
            code, headers, _ = self.client.request(path)
            self.assertEqual((code, header(headers, "Location")), (302, "/ui/"), path)

    def test_unknown_files_and_traversal_are_404(self) -> None:
        paths = ("/ui/nope.html", "/ui/../setup.cfg", "/ui/%2e%2e/setup.cfg", "/ui/static/console.js", "/ui/pages.py")
        for path in paths:
            code, headers, body = self.client.request(path)
            self.assertEqual(code, 404, path)
            self.assertEqual(header(headers, "Content-Type"), "text/plain; charset=utf-8")
            self.assertNotIn(b"<", body)

    def test_pages_are_read_only(self) -> None:
        code, headers, _ = self.client.request("/ui/fleet.html", method="POST")
        self.assertEqual((code, header(headers, "Allow")), (405, "GET, HEAD"))
        code, _, body = self.client.request("/ui/fleet.html", method="HEAD")
        self.assertEqual((code, body), (200, b""))

    def test_the_api_keeps_its_paths(self) -> None:
        code, headers, body = self.client.request("/health/live")
        self.assertEqual((code, body), (200, b'{"status":"ok"}'))
        code, _, body = self.client.request("/items/4151")
        self.assertEqual((code, body), (404, b'{"error":"no such route","code":"not_found"}'))

    def test_an_incomplete_install_fails_loudly(self) -> None:
        self.assertRaises(FileNotFoundError, load_assets, "osrs_twisted.console", "no-such-folder")

    def test_root_routes_the_pages_prefix_only(self) -> None:
        pages = ConsolePages({})
        root = ConsoleRoot(HealthApi(HealthRegistry()).resource(), pages)
        client = Client(self, root)
        self.assertEqual(client.request("/ui/index.html")[0], 404)
        self.assertEqual(client.request("/uix")[0], 404)
        self.assertEqual(client.request("/health/live")[0], 200)
