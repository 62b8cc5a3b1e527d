"""``/docs`` in a real browser: the self-hosted Swagger UI 5 renders FastAPI's OpenAPI 3.1.

Swagger UI 4 showed only "Unable to render this definition" for a 3.1 document, and the old
test checked no more than a 200. Here Chromium opens the page under the app's own
Content-Security-Policy with every other host cut off, and the operations and the Authorize
button must appear.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

# The demo server and Chromium of the map tests; this module gets its own server.
server, browser = maps_browser.server, maps_browser.browser
CHROMIUM, SHOTS = maps_browser.CHROMIUM, maps_browser.SHOTS

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=maps_browser.MISSING)


def test_docs_render_the_openapi_31_document(browser: Any, server: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(server["base"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    answer = page.goto(f"{server['base']}/docs")
    assert answer is not None and answer.status == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "docs-desktop.png"))
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.strip().replace("\u200b", "") == "/v1/hotspots" for p in paths), paths
    assert page.locator("button.authorize").is_visible()
    text = page.inner_text("body")
    assert "Unable to render" not in text
    assert "OAS 3.1" in text  # the version badge Swagger UI shows for the document it read
    assert outside == [] and errors == [], (outside, errors)
    context.close()
