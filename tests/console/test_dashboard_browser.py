"""The console in a real Chromium, against a real `memskill serve` holding the demo conversations.

An operator signs in, opens the demo user's skill page (its name, procedure and the user's preferences
in Chinese), opens an older version's diff, downloads the zip; a message holding `<script>` and an
`<img onerror>` shows as text and runs nothing. Screenshots go to `.ci/screenshots/`; the load time of
every page is listed at the end of the run ("page load times").
"""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile

import pytest
from browser_helpers import DemoServer, navigation_status, page_errors, screenshot, timed_goto
from paths import DATA
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

USER = "demo-traveller-fast"
HOSTILE = (
    "<script>window.__owned = 'script'</script>"
    "<img src=x onerror=\"window.__owned = 'img'; alert('img')\"> 看看这条消息"
)


def sign_in(page: Page, server: DemoServer, language: str = "en") -> None:
    timed_goto(page, f"{server.root}/ui/login?lang={language}")
    page.fill("#key", server.key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/users")


def post(server: DemoServer, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        server.api + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {server.key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply: dict[str, object] = json.loads(response.read())
    return reply


def test_an_operator_reviews_a_skill_its_diff_and_downloads_it(
    demo_server: DemoServer, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, demo_server, "zh")
    timed_goto(page, demo_server.root + "/ui/users")
    assert page.locator("#users").is_visible()
    assert page.locator(f"#users a:text-is('{USER}')").is_visible()
    screenshot(page, "users")

    page.click(f"#users a:text-is('{USER}')")
    page.wait_for_selector("#skills")
    timed_goto(page, page.url)  # the user page again, timed
    screenshot(page, "user")
    skill_link = page.locator("#skills a", has_text="travel-itinerary-planning").first
    skill_url = skill_link.get_attribute("href")
    assert skill_url
    timed_goto(page, demo_server.root + skill_url)
    assert navigation_status(page) == 200

    assert page.locator("h1.skill-name").inner_text() == "travel-itinerary-planning"
    procedure = page.locator("#procedure")
    assert procedure.locator("h3").inner_text() == "步骤"
    assert procedure.locator("li").count() >= 2
    preferences = page.locator("#preferences").inner_text()
    assert "偏好" in preferences and "回头路" in preferences
    assert "天气" in page.locator("#procedure").inner_text() + preferences
    screenshot(page, "skill")

    # the oldest diff link compares version 1 with version 2
    diff_links = page.locator("a.diff-link")
    assert diff_links.count() >= 1
    diff_links.last.click()
    page.wait_for_selector("#diff")
    assert "v1 → v2" in page.locator("h1").inner_text()
    assert page.locator("#diff span.add").count() >= 1
    screenshot(page, "diff")
    page.go_back()

    with page.expect_download() as caught:
        page.click("#download-zip")
    download = caught.value
    archive = zipfile.ZipFile(io.BytesIO(download.path().read_bytes()))
    assert archive.namelist() == ["travel-itinerary-planning/SKILL.md"]
    assert "name: travel-itinerary-planning" in archive.read("travel-itinerary-planning/SKILL.md").decode()
    assert not page_errors(page), page_errors(page)


def test_hostile_message_content_shows_as_text_and_runs_nothing(
    demo_server: DemoServer, browser_page: Page
) -> None:
    post(
        demo_server,
        "/add/message",
        {
            "user_id": "mallory",
            "conversation_id": "xss",
            "messages": [{"role": "user", "content": HOSTILE}],
            "async_mode": False,
        },
    )
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, demo_server)
    for path in ("/ui/conversation?user=mallory&id=xss", "/ui/user?id=mallory", "/ui/jobs?user=mallory"):
        timed_goto(page, demo_server.root + path)
        assert navigation_status(page) == 200
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.__owned") is None
        assert page.locator("#messages img, #memories img, #jobs img, main script").count() == 0
    timed_goto(page, demo_server.root + "/ui/conversation?user=mallory&id=xss")
    shown = page.locator("#messages .body").first.inner_text()
    assert "<script>window.__owned = 'script'</script>" in shown
    assert "<img src=x onerror=" in shown
    assert dialogs == []
    screenshot(page, "hostile-message")


def test_jobs_and_playground_pages_load_in_both_languages(
    demo_server: DemoServer, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, demo_server)
    timed_goto(page, demo_server.root + "/ui/jobs")
    assert page.locator("#jobs tbody tr").count() >= 20
    page.locator("#jobs details summary").first.click()
    assert page.locator("#jobs table.stages").first.is_visible()
    screenshot(page, "jobs")

    timed_goto(page, demo_server.root + f"/ui/playground?user={USER}&q=规划成都行程&lang=zh")
    assert page.locator("#reply").is_visible()
    reply = json.loads(page.locator("#reply").inner_text())
    assert set(reply) >= {"memory_detail_list", "preference_detail_list", "skill_detail_list"}
    assert "检索试验台" in page.locator("h1").inner_text()
    screenshot(page, "playground")
    assert not page_errors(page), page_errors(page)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_filter_form_submitted_in_the_browser_keeps_its_context(
    demo_server: DemoServer, browser_page: Page, language: str
) -> None:
    """Forms are filled and submitted as an operator would, never reached by a hand-built URL."""
    page = browser_page
    sign_in(page, demo_server, language)

    timed_goto(page, demo_server.root + f"/ui/user?id={USER}")
    page.select_option("form.filters select[name=kind]", "tool")
    page.fill("form.filters input[name=q]", "get_weather")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#memories")
    assert navigation_status(page) == 200 and USER in page.locator("h1").inner_text()
    kinds = page.locator("#memories tbody td:first-child").all_inner_texts()
    assert kinds and len(set(kinds)) == 1, kinds  # only tool memories, of this user
    assert "get_weather" in page.locator("#memories").inner_text()

    timed_goto(page, demo_server.root + "/ui/jobs")
    page.fill("form.filters input[name=user]", USER)
    page.select_option("form.filters select[name=status]", "completed")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#jobs")
    users = [u for u in page.locator("#jobs > tbody > tr > td:nth-child(2)").all_inner_texts() if u.strip()]
    assert users and set(users) == {USER}, set(users)

    timed_goto(page, demo_server.root + f"/ui/playground?user={USER}")
    page.fill("#playground input[name=q]", "规划成都行程")
    page.click("#playground button[type=submit]")
    page.wait_for_selector("#reply")
    assert json.loads(page.locator("#reply").inner_text())["skill_detail_list"]
    assert not page_errors(page), page_errors(page)


def test_pages_fit_a_laptop_and_a_phone_and_draw_emoji(demo_server: DemoServer, browser_page: Page) -> None:
    """At 1280 px the jobs page does not scroll sideways; at 390 px the header's links keep their words on
    one line; 👍 in a message is drawn with an emoji font, not as a box."""
    page = browser_page
    sign_in(page, demo_server)
    page.set_viewport_size({"width": 1280, "height": 800})
    timed_goto(page, demo_server.root + "/ui/jobs")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    screenshot(page, "jobs-1280")
    assert overflow <= 0, f"the jobs page is {overflow} px wider than a 1280 px window"

    page.set_viewport_size({"width": 390, "height": 844})
    timed_goto(page, demo_server.root + "/ui/users")
    screenshot(page, "users-390")
    heights = page.evaluate(
        "() => [...document.querySelectorAll('header.top a, header.top button')].map(e => "
        "[e.textContent.trim(), e.getBoundingClientRect().height, "
        "parseFloat(getComputedStyle(e).lineHeight)])"
    )
    wrapped = [text for text, height, line in heights if height > 1.5 * line]
    assert not wrapped, f"header links wrap on a phone: {wrapped}"
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the users page is {overflow} px wider than a phone (its table scrolls inside)"

    page.set_viewport_size({"width": 1280, "height": 800})
    timed_goto(page, demo_server.root + f"/ui/conversation?user={USER}&id=fast-chengdu-5days")
    thumb = page.locator(".message", has_text="👍").first
    assert thumb.is_visible()
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": ".message"})["nodeIds"]
    families: dict[str, int] = {}
    for node in nodes:
        for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]:
            families[font["familyName"]] = families.get(font["familyName"], 0) + font["glyphCount"]
    assert any("Emoji" in family for family in families), (
        f"👍 drawn with {families}; install fonts-noto-color-emoji"
    )
    assert not page_errors(page), page_errors(page)


def test_an_operator_sees_a_skills_state_evidence_and_history_and_reviews_it(
    demo_server: DemoServer, browser_page: Page
) -> None:
    """A person's edit drops the tool step; the next conversation of the kind proposes it again and the
    version holds it out: the console shows the state, reliability, each version's author and what it
    held out, and the history; Retire and Approve act and are recorded with the console's key."""
    brief = json.loads((DATA / "brief_conversation.json").read_text("utf-8"))
    user = "reviewer-zhang"
    first = {"user_id": user, "conversation_id": "c1", "messages": brief["messages"], "async_mode": False}
    post(demo_server, "/add/message", first)
    [skill] = post(demo_server, "/get/skill", {"user_id": user})["data"]["skill_detail_list"]  # type: ignore[index]
    markdown = skill["skill_markdown"]
    step = next(line for line in markdown.splitlines() if "get_weather" in line and line[:1].isdigit())
    edit = {"user_id": user, "skill_id": skill["id"], "action": "edit", "actor": "lin"}
    post(demo_server, "/skill/review", {**edit, "skill_markdown": markdown.replace(step + "\n", "")})
    post(demo_server, "/add/message", {**first, "conversation_id": "c2"})

    page = browser_page
    sign_in(page, demo_server)
    timed_goto(page, f"{demo_server.root}/ui/user?id={user}")
    assert page.locator("#skills .badge").first.inner_text() == "active"
    timed_goto(page, f"{demo_server.root}/ui/skills/{skill['id']}")
    assert navigation_status(page) == 200
    assert "active" in page.locator("#skill-state").inner_text()
    assert "reliability 0.50" in page.locator("#skill-state").inner_text()
    versions = page.locator("#versions").inner_text()
    assert "lin via key:" in versions and "memskill" in versions
    held_out = page.locator("#versions ul.held-out").first.inner_text()
    assert "get_weather" in held_out and "a person removed it" in held_out
    history = page.locator("#history").inner_text()
    assert "created" in history and "edited" in history
    screenshot(page, "skill-lifecycle")

    page.click("#retire")
    page.wait_for_selector("#skill-state .state-retired")
    assert "console:" in page.locator("#history tbody tr").first.inner_text()
    timed_goto(page, f"{demo_server.root}/ui/playground?user={user}&q=规划成都行程")
    assert json.loads(page.locator("#reply").inner_text())["skill_detail_list"] == []
    timed_goto(page, f"{demo_server.root}/ui/skills/{skill['id']}")
    page.click("#approve")
    page.wait_for_selector("#skill-state .state-active")
    assert "approved" in page.locator("#history tbody tr").first.inner_text()
    assert not page_errors(page), page_errors(page)
