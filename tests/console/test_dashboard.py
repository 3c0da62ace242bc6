"""The console at `/ui`: sign-in and sessions, every page, escaping, CSRF, and what it shows.

These run the real FastAPI app in process (the browser tests in test_dashboard_browser.py drive
Chromium against a real `memskill serve`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from memskill import Memory, Settings
from memskill.demo import send_demo
from memskill.server.app import create_app
from memskill.server.keys import create_key
from memskill.server.sessions import COOKIE

KEY = "console-test-key"
EVIL = "<script>alert('x')</script> <img src=x onerror=alert(1)> & \"quotes\""


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the demo conversations and a hostile one (built once)."""
    folder = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=folder, workers=0, embedder="hashing")
    with Memory(settings=settings) as memory:
        send_demo(memory)
        memory.add_message(
            user_id="mallory",
            conversation_id="c<b>1</b>",
            messages=[{"role": "user", "content": EVIL}, {"role": "assistant", "content": EVIL}],
            async_mode=False,
        )
    return folder


@pytest.fixture
def memory(filled: Path, tmp_path: Path) -> Iterator[Memory]:
    import shutil

    folder = tmp_path / "data"
    shutil.copytree(filled, folder)
    with Memory(settings=Settings(data_dir=folder, workers=0, embedder="hashing", api_key=KEY)) as engine:
        yield engine


@pytest.fixture
def client(memory: Memory) -> TestClient:
    return TestClient(create_app(memory, memory.settings))


def signed_in(client: TestClient, key: str = KEY) -> TestClient:
    reply = client.post("/ui/login", data={"key": key, "next": "/ui/users"}, follow_redirects=False)
    assert reply.status_code == 303, reply.text
    return client


def skill_ids(client: TestClient, user: str) -> list[str]:
    return re.findall(r'href="/ui/skills/([^"]+)"', client.get("/ui/user", params={"id": user}).text)


def test_pages_need_a_session_and_send_the_browser_to_sign_in(client: TestClient) -> None:
    for path in ("/ui/users", "/ui/jobs", "/ui/playground", "/ui/user?id=demo-traveller-fast"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303
        assert reply.headers["location"].startswith("/ui/login?next=")
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/login"


def test_signing_in_sets_a_hardened_cookie_without_the_key(client: TestClient) -> None:
    reply = client.post("/ui/login", data={"key": KEY, "next": "/ui/jobs"}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/ui/jobs"
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert KEY not in cookie
    assert client.get("/ui/users").status_code == 200


def test_a_wrong_key_and_an_app_bound_key_are_refused(client: TestClient, memory: Memory) -> None:
    wrong = client.post("/ui/login", data={"key": "nope"})
    assert wrong.status_code == 401 and "Unknown or revoked API key" in wrong.text
    app_key, _ = create_key(memory.store, app_id="shop")
    bound = client.post("/ui/login", data={"key": app_key})
    assert bound.status_code == 403 and "shop" in bound.text
    assert COOKIE not in bound.headers.get("set-cookie", "")


def test_a_forged_or_revoked_session_is_not_accepted(client: TestClient, memory: Memory) -> None:
    key, row = create_key(memory.store)
    signed_in(client, key)
    assert client.get("/ui/users", follow_redirects=False).status_code == 200
    value = client.cookies[COOKIE]
    client.cookies.clear()  # one cookie of that name in the jar, whichever HTTP client the test client uses
    client.cookies.set(COOKIE, value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert client.get("/ui/users", follow_redirects=False).status_code == 303
    client.cookies.clear()
    client.cookies.set(COOKIE, value)
    assert client.get("/ui/users", follow_redirects=False).status_code == 200
    memory.store.revoke_api_key(row.id, 1)
    assert client.get("/ui/users", follow_redirects=False).status_code == 303


def test_the_next_page_after_sign_in_stays_inside_the_console(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/api/openmem/v1/x", "/ui/\\evil"):
        reply = client.post("/ui/login", data={"key": KEY, "next": target}, follow_redirects=False)
        assert reply.headers["location"] == "/ui/users"


def test_users_page_counts_what_is_stored(client: TestClient, memory: Memory) -> None:
    page = signed_in(client).get("/ui/users").text
    for user in ("demo-traveller-fast", "demo-traveller-slow", "mallory"):
        assert f'href="/ui/user?id={user}"' in page
    (fast,) = [u for u in memory.store.user_overview() if u.user_id == "demo-traveller-fast"]
    assert fast.skills >= 1 and fast.preferences >= 1 and fast.conversations >= 2
    row = page.split('href="/ui/user?id=demo-traveller-fast"')[1].split("</tr>")[0]
    numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row)]
    assert numbers[:6] == [
        fast.memories,
        fast.preferences,
        fast.tool_memories,
        fast.skills,
        fast.conversations,
        fast.messages,
    ]


def test_user_page_filters_by_type_and_searches(client: TestClient) -> None:
    signed_in(client)
    every = client.get("/ui/user?id=demo-traveller-fast").text
    preferences = client.get("/ui/user?id=demo-traveller-fast&kind=preference").text
    tools = client.get("/ui/user?id=demo-traveller-fast&kind=tool").text
    assert 'class="tag preference"' in every and 'class="tag fact"' in every
    assert 'class="tag preference"' in preferences and 'class="tag fact"' not in preferences
    assert 'class="tag tool"' in tools and 'class="tag preference"' not in tools
    found = client.get("/ui/user", params={"id": "demo-traveller-fast", "q": "回头路"}).text
    assert "回头路" in found and "Relevance" in found
    assert client.get("/ui/user", params={"id": "nobody"}).status_code == 404


def test_skill_page_shows_the_skill_versions_downloads_and_sources(client: TestClient) -> None:
    signed_in(client)
    (first, *_) = skill_ids(client, "demo-traveller-fast")
    page = client.get(f"/ui/skills/{first}?lang=zh").text
    assert 'class="skill-name">travel-itinerary-planning<' in page
    assert "步骤" in page and "回头路" in page and "版本历史" in page
    assert re.search(r'id="download-zip" href="http://testserver/api/openmem/v1/skills/[^"]+sig=', page)
    assert "format=md" in page
    assert 'href="/ui/conversation?user=demo-traveller-fast&id=' in page
    zip_url = re.search(r'id="download-zip" href="([^"]+)"', page)
    assert zip_url is not None
    download = client.get(zip_url.group(1).replace("&amp;", "&").replace("http://testserver", ""))
    assert download.status_code == 200 and download.content[:2] == b"PK"


def test_diff_between_versions_marks_added_and_removed_lines(client: TestClient) -> None:
    signed_in(client)
    (first, *_) = skill_ids(client, "demo-traveller-fast")
    page = client.get(f"/ui/skills/{first}").text
    link = re.search(r'class="diff-link" href="([^"]+)"', page)
    assert link is not None
    diff = client.get(link.group(1).replace("&amp;", "&")).text
    assert '<span class="add">+' in diff
    assert '<span class="file">--- v' in diff
    assert "</span>\n<span" not in diff  # block lines inside <pre>: a newline between them shows as a gap
    missing = client.get(f"/ui/skills/{first}/diff?from=1&to=99")
    assert missing.status_code == 404 and "pick two of them" in missing.text


def test_conversation_content_is_escaped_everywhere(client: TestClient) -> None:
    signed_in(client)
    pages = [
        client.get("/ui/conversation", params={"user": "mallory", "id": "c<b>1</b>"}),
        client.get("/ui/user", params={"id": "mallory"}),
        client.get("/ui/user", params={"id": "mallory", "q": "script alert"}),
        client.get("/ui/jobs", params={"user": "mallory"}),
    ]
    for reply in pages:
        assert reply.status_code == 200
        assert (
            "<script>" not in reply.text and "<img src=x" not in reply.text and "<b>1</b>" not in reply.text
        )
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in pages[0].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text


def test_pages_forbid_inline_and_foreign_scripts(client: TestClient) -> None:
    reply = signed_in(client).get("/ui/users")
    policy = reply.headers["content-security-policy"]
    assert (
        "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    )
    assert reply.headers["x-content-type-options"] == "nosniff"
    css = client.get("/ui/static/dashboard.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_deleting_a_skill_needs_the_csrf_token(client: TestClient, memory: Memory) -> None:
    signed_in(client)
    (first, *_) = skill_ids(client, "demo-traveller-slow")
    refused = client.post(f"/ui/skills/{first}/delete", data={"csrf": "guess", "confirm": "on"})
    assert refused.status_code == 403 and memory.store.get_skill(first) is not None
    page = client.get(f"/ui/skills/{first}").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    done = client.post(
        f"/ui/skills/{first}/delete", data={"csrf": token.group(1), "confirm": "on"}, follow_redirects=False
    )
    assert done.status_code == 303 and memory.store.get_skill(first) is None
    assert client.get(f"/ui/skills/{first}").status_code == 404


def test_jobs_page_shows_status_stages_and_filters(client: TestClient) -> None:
    signed_in(client)
    page = client.get("/ui/jobs", params={"user": "demo-traveller-fast", "status": "completed"}).text
    assert page.count('<tr class="completed">') >= 5
    assert "mallory" not in page
    assert "<td>segment</td><td>algorithmic</td>" in page
    assert client.get("/ui/jobs", params={"status": "failed"}).text.count('<tr class="failed">') == 0


def test_playground_shows_what_an_agent_receives(client: TestClient) -> None:
    signed_in(client)
    page = client.get("/ui/playground", params={"user": "demo-traveller-fast", "q": "回头路 特种兵"}).text
    assert "&#34;memory_detail_list&#34;" in page and "&#34;skill_detail_list&#34;" in page
    unticked = client.get(
        "/ui/playground", params={"user": "demo-traveller-fast", "q": "回头路", "run": "1", "skills": ""}
    ).text
    assert 'name="skills" value="1" >' in unticked or 'name="skills" value="1"  >' in unticked
    error = client.get("/ui/playground", params={"user": "u" * 101, "q": "x"}).text
    assert 'class="error"' in error


def test_language_follows_the_switch_and_is_remembered(client: TestClient) -> None:
    signed_in(client)
    english = client.get("/ui/users", headers={"accept-language": "en-US"}).text
    assert ">Users<" in english
    chinese = client.get("/ui/users?lang=zh").text
    assert ">用户<" in chinese and 'lang="zh-CN"' in chinese
    assert ">用户<" in client.get("/ui/jobs").text  # remembered in a cookie


def test_signing_out_needs_the_token_and_ends_the_session(client: TestClient) -> None:
    signed_in(client)
    client.post("/ui/logout", data={"csrf": "wrong"})
    assert client.get("/ui/users", follow_redirects=False).status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/users").text)
    assert token is not None
    client.post("/ui/logout", data={"csrf": token.group(1)})
    assert client.get("/ui/users", follow_redirects=False).status_code == 303


def test_commands_in_the_console_words_show_as_code_not_backticks(client: TestClient, memory: Memory) -> None:
    for language in ("en", "zh"):
        page = client.get("/ui/login", params={"lang": language}).text
        assert "<code>memskill keys create</code>" in page and "`" not in page
    app_key, _ = create_key(memory.store, app_id="<b>shop</b>")
    bound = client.post("/ui/login", data={"key": app_key}).text
    assert "<code>memskill keys create</code>" in bound and "&lt;b&gt;shop&lt;/b&gt;" in bound
