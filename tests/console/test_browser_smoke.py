"""The browser test set-up works end to end: Chromium opens the served pages and renders Chinese.

Against a real `memskill serve` holding the demo conversations: `/healthz` and the dashboard at `/`
load with status 200 and without console errors. A page of Chinese text is drawn with a CJK font, not
with empty boxes (without one, every Chinese label of the dashboard would be unreadable).
"""

from __future__ import annotations

import json

import pytest
from browser_helpers import DemoServer, navigation_status, page_errors, screenshot, timed_goto
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

CJK_FAMILIES = ("WenQuanYi", "Noto Sans CJK", "Noto Serif CJK", "Droid Sans Fallback", "AR PL")
"""Font families that hold Chinese glyphs; CI installs WenQuanYi Micro Hei (fonts-wqy-microhei)."""


def test_health_and_dashboard_load_without_errors(demo_server: DemoServer, browser_page: Page) -> None:
    page = browser_page
    timed_goto(page, demo_server.root + "/healthz")
    assert navigation_status(page) == 200
    health = json.loads(page.locator("pre").first.inner_text())
    assert health["status"] == "ok", health

    timed_goto(page, demo_server.root + "/")
    assert navigation_status(page) == 200
    page.wait_for_load_state("networkidle")
    assert page.title().strip(), "the dashboard has no <title>"
    assert screenshot(page, "dashboard").stat().st_size > 0
    assert not page_errors(page), "\n".join(page_errors(page))


def test_chinese_text_is_drawn_with_a_cjk_font(browser_page: Page) -> None:
    page = browser_page
    page.set_content(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>中文</title></head>'
        '<body style="font: 16px sans-serif"><span id="text">中文测试</span></body></html>'
    )
    width = page.evaluate("() => document.getElementById('text').getBoundingClientRect().width")
    assert width > 0

    # Which installed fonts Chromium actually drew the glyphs with (a missing font still takes up width).
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    document = cdp.send("DOM.getDocument")
    node = cdp.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": "#text"})
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
    families = {font["familyName"]: font["glyphCount"] for font in fonts}
    cjk = {family: count for family, count in families.items() if family.startswith(CJK_FAMILIES)}
    assert sum(cjk.values()) == len("中文测试"), f"Chinese drawn with {families}; install fonts-wqy-microhei"

    screenshot(page, "cjk-font")
    assert not page_errors(page), "\n".join(page_errors(page))


def test_the_api_docs_render_offline(demo_server: DemoServer, browser_page: Page) -> None:
    """/docs draws every endpoint with the package's own Swagger UI: no request leaves the server."""
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    timed_goto(page, demo_server.root + "/docs")
    assert navigation_status(page) == 200
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert page.locator(".swagger-ui .opblock").count() >= 10
    assert "search/memory" in page.locator(".swagger-ui").inner_text()
    outside = [
        url for url in requested if not url.startswith(demo_server.root) and not url.startswith("data:")
    ]
    assert not outside, outside
    screenshot(page, "api-docs")
    assert not page_errors(page), "\n".join(page_errors(page))
