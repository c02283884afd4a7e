"""The web console in a real headless Chromium (Debian's chromium, driven by Playwright), against the
Telegram peer (telegram-test-api) and the QQ peer (ncatbot's NapCatMockServer): log in with a /后台 link,
find the fading group, approve a held request and see the peer receive it, undo a moderation decision,
change a setting (refused when invalid); a member's or an expired link, and a forged form post, get nothing.

Screenshots of every page go to the test's folder, and to $QUNBOT_SCREENSHOTS when that is set."""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import QunbotConfig
from bot.model import MessageReceived
from bot.store.repos import audit_entries
from bot.web.server import console_served
from tests.node_peer import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)")

SPLIT_AD = "加 V 💰 x i a o m e i ❤ 8 8 6 6，带你赚钱"
SECOND_AD = "薇信：xiaomei8866 日賺300元"


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        await chromium.close()


async def shoot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / "shots" / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("QUNBOT_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def review_rules(rules: Path) -> Path:
    """The shipped rules with every join request held for an admin."""
    path = rules / "join_threshold.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('mode = "answer"', 'mode = "review"'), encoding="utf-8")
    return rules


def link_in(text: str) -> str:
    return re.search(r"http://\S+/login/\S+", text).group(0)


async def talk_in_the_past(engine, group: str, days_ago: range, speakers: int) -> None:
    """A group that talked on the given days and then fell silent (its history, as the bot counted it)."""
    platform, _, chat = group.partition(":")
    now = engine.clock.now()
    for day in days_ago:
        for n in range(speakers):
            await engine.handle(MessageReceived(at=now - timedelta(days=day, hours=n), platform=platform, group=chat,
                                                user=f"old{n}", name=f"老成员{n}", id=f"old-{day}-{n}", text="今天聊点什么"))
    await engine.stats.flush()


# ----------------------------------------------------------------------------- Telegram

from tests.telegram_harness import Peer, eventually, running_bot, user  # noqa: E402

G = -1001000000001
FADING = "telegram:-1001000000999"
ADMIN, MEMBER = 201, 301


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.stop()


def replies_with(peer: Peer, words: str):
    return lambda: next((m for m in peer.sent(G) if words in (m.get("text") or m.get("caption") or "")), None)


async def test_an_owner_logs_in_with_a_link_finds_the_fading_group_approves_undoes_and_sets(peer, tmp_path, extra_plugin, browser):
    peer.chat(G, [{"user": user(ADMIN, "Ada"), "status": "administrator", "rights": {}},
                  {"user": user(MEMBER, "小王"), "status": "member"}])
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    review_rules(rules)
    port = free_port()
    web = {"listen": "127.0.0.1", "port": port}
    async with running_bot(peer, tmp_path, extra_plugin, bot_admins=[f"telegram:{ADMIN}"], web=web) as (engine, _):
        await talk_in_the_past(engine, FADING, range(20, 5, -1), 4)
        async with console_served(engine, engine.config.web, {}) as base:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await shoot_login(page, base, tmp_path)

            peer.say(G, ADMIN, "/后台")
            link = link_in((await eventually(replies_with(peer, "/login/"), "the login link"))["text"])
            assert link.startswith(f"http://127.0.0.1:{port}/login/")
            await page.goto(link)
            await shoot(page, tmp_path, "link")
            await page.click("#enter")
            await page.wait_for_url(f"{base}/")
            await shoot(page, tmp_path, "overview")
            # The fading group stands out, first.
            first = page.locator("#groups tr[data-group]").first
            assert await first.get_attribute("data-group") == FADING
            assert "fading" in (await first.get_attribute("class"))
            assert "衰退期" in await first.inner_text()
            # The link worked once: opened again, it offers nothing, and posting to it logs nobody in.
            other = await browser.new_page()
            again = await other.goto(link)
            assert again.status == 403 and "已失效" in await other.inner_text("main")
            assert (await other.request.post(link)).status == 403
            await shoot(other, tmp_path, "link_used")

            # A held join request, approved on the page: the peer receives the approval.
            peer.post("/test/join_request", chat_id=G, **{"from": user(401, "申请人")}, bio="想来学习")
            await eventually(replies_with(peer, "申请人"), "the request was held for review")
            await page.goto(f"{base}/group?g=telegram:{G}")
            await page.click("#pending-table tr[data-user='401'] button.approve")
            await page.wait_for_selector("#outcome")
            await eventually(lambda: peer.state(G)["requests"].get("401") == "approved", "the approval at the peer")
            assert "通过" in await page.inner_text("#outcome")

            # Two ads: deleted and warned, then muted; the mute undone on the page lifts it at the peer.
            peer.say(G, MEMBER, SPLIT_AD)
            peer.say(G, MEMBER, SECOND_AD)
            await eventually(lambda: peer.state(G)["members"][str(MEMBER)]["status"] == "restricted", "the mute")
            await page.goto(f"{base}/group?g=telegram:{G}#moderation")
            rows = page.locator("#modlog tr[data-message]")
            assert await rows.count() == 2
            assert "mute" in await rows.first.inner_text()
            await rows.first.locator("button.undo").click()
            await page.wait_for_selector("#outcome")
            await eventually(lambda: peer.state(G)["members"][str(MEMBER)]["status"] == "member", "the unmute at the peer")
            assert "已撤销" in await page.locator("#modlog tr[data-message]").first.inner_text()

            # A setting: an invalid value is refused with /set's words and nothing changes; a valid one holds.
            await page.click("details[data-plugin='checkin'] summary")
            row = page.locator("table[data-plugin='checkin'] tr[data-key='base_points']")
            await row.locator("input[name=value]").fill("很多")
            async with page.expect_response(f"{base}/act") as answer:
                await row.locator("button.save").click()
            assert (await answer.value).status == 400
            assert "没有修改" in await page.inner_text("#outcome.bad")
            assert engine.rulebook.effective("checkin", f"telegram:{G}").base_points == 10
            row = page.locator("table[data-plugin='checkin'] tr[data-key='base_points']")
            await row.locator("input[name=value]").fill("15")
            await row.locator("button.save").click()
            await page.wait_for_selector("#outcome.ok")
            assert engine.rulebook.effective("checkin", f"telegram:{G}").base_points == 15
            await shoot(page, tmp_path, "group")

            # The page's figures are /stage's and /stats's for the same group at the same moment (each
            # command is itself a message: the page is read after each answer, before anyone speaks again).
            peer.say(G, ADMIN, "/stage")
            stage = await eventually(replies_with(peer, "阶段："), "/stage's answer")
            await page.goto(f"{base}/group?g=telegram:{G}")
            assert (await page.inner_text("#stage-text")).strip() in stage["text"]
            peer.say(G, ADMIN, "/stats")
            stats = await eventually(replies_with(peer, "群数据"), "/stats's answer")
            await page.goto(f"{base}/group?g=telegram:{G}")
            assert (await page.inner_text("#stats-text")).strip() in (stats.get("caption") or stats.get("text"))
            # Hovering a day of the chart shows that day's figures.
            assert "消息" in await page.locator(".chart .day title").last.text_content()

            await page.goto(f"{base}/group?g={FADING}")
            await shoot(page, tmp_path, "fading_group")
            assert "连续" in await page.inner_text("#stage-text")
            await page.goto(f"{base}/many")
            await shoot(page, tmp_path, "many")

    audit = await engine.store.run(audit_entries, f"telegram:{G}")
    web_rows = [a for a in audit if a["plugin"] == "web"]
    assert [a["key"] for a in web_rows] == ["approve", "notad", "set", "set"]
    assert {a["user_id"] for a in web_rows} == {f"telegram:{ADMIN}"} and all(a["command"].startswith("[后台") for a in web_rows)
    # /set's own audit row, as in the chat, made by the admin's platform id.
    assert any(a["plugin"] == "checkin" and a["key"] == "base_points" and a["user_id"] == str(ADMIN) for a in audit)


async def shoot_login(page, base: str, tmp_path: Path) -> None:
    """Not logged in: every page sends the browser to the login page."""
    await page.goto(f"{base}/group?g=telegram:{G}")
    assert page.url == f"{base}/login"
    await shoot(page, tmp_path, "login")


# ----------------------------------------------------------------------------- QQ

from tests.qq_harness import running, texts_of, wait_until  # noqa: E402
from tests.test_qq_napcat_mock import NapCatMockServer, config as napcat_config, get_standard_data  # noqa: E402

QQ_GROUP, QQ_ADMIN, QQ_MEMBER = 200001, 100001, 100002


@pytest.fixture
async def napcat():
    server = NapCatMockServer(host="127.0.0.1", port=free_port(), initial_data=get_standard_data())
    await server.start()
    yield server
    await server.stop()


def qq_sent(server) -> list[str]:
    return [texts_of(call["message"]) for call in server.get_calls_for_action("send_group_msg")]


async def qq_link(napcat, who: int, message_id: str) -> str | None:
    """Ask for a link in the QQ group as ``who``; the link, or None with the bot's answer checked to be a no."""
    before = len(qq_sent(napcat))
    await napcat.inject_group_message(QQ_GROUP, who, "/后台", message_id=message_id)
    answer = (await wait_until(lambda: qq_sent(napcat)[before:], "the answer to /后台"))[0]
    found = re.search(r"http://\S+/login/\S+", answer)
    return found.group(0) if found else answer


async def test_on_qq_members_expired_links_and_forged_posts_get_nothing_and_an_admin_approves(
        napcat, make_engine, rules_dir, tmp_path, browser):
    port = free_port()
    engine = await make_engine(review_rules(rules_dir), QunbotConfig.model_validate({"web": {"port": port}}))
    group = f"qq:{QQ_GROUP}"
    async with running(engine, napcat_config(napcat)) as (adapter, _), console_served(engine, engine.config.web, {}) as base:
        await wait_until(lambda: adapter.connections, "the adapter connected")
        page = await browser.new_page(viewport={"width": 1280, "height": 900})

        # A member asks: refused in the chat, no link made.
        refusal = await qq_link(napcat, QQ_MEMBER, "9001")
        assert "只有管理员" in refusal and "/login/" not in refusal

        # An expired link opens nothing and logs nobody in.
        expired = await qq_link(napcat, QQ_ADMIN, "9002")
        engine.clock.set(engine.clock.now() + timedelta(minutes=11))
        answer = await page.goto(expired)
        assert answer.status == 403 and "已失效" in await page.inner_text("main")
        assert (await page.request.post(expired)).status == 403
        await page.goto(f"{base}/group?g={group}")
        assert page.url == f"{base}/login"

        # A fresh link: the admin's console shows this one group.
        fresh = await qq_link(napcat, QQ_ADMIN, "9003")
        # Another site posting the link is refused, and does not spend it.
        assert (await page.request.post(fresh, headers={"Origin": "http://evil.example"})).status == 403
        await page.goto(fresh)
        await page.click("#enter")
        await page.wait_for_url(f"{base}/group?g=qq%3A{QQ_GROUP}")
        await shoot(page, tmp_path, "qq_group")
        assert (await page.request.get(f"{base}/group?g=qq:200002")).status == 403  # another group: not theirs

        # A held request approved on the page reaches the QQ peer.
        await napcat.inject_event({"post_type": "request", "request_type": "group", "sub_type": "add", "group_id": QQ_GROUP,
                                   "user_id": 300001, "comment": "想进群学习", "flag": "flag-web-1",
                                   "time": int(engine.clock.now().timestamp()), "self_id": 123456789})
        await wait_until(lambda: any("300001" in t or "想进群学习" in t for t in qq_sent(napcat)), "the request was held")
        await page.goto(f"{base}/group?g={group}")
        await page.click("#pending-table tr[data-user='300001'] button.approve")
        await page.wait_for_selector("#outcome")
        calls = await wait_until(lambda: napcat.get_calls_for_action("set_group_add_request"), "the approval at the peer")
        assert calls == [{"flag": "flag-web-1", "sub_type": "add", "type": "add", "approve": True}]

        # A forged post: a page elsewhere submits a form to the console. Refused, nothing changed.
        csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
        evil = await browser.new_page()
        await evil.set_content(f"""<form method="post" action="{base}/act"><input name="g" value="{group}">
            <input name="do" value="set"><input name="plugin" value="checkin"><input name="key" value="base_points">
            <input name="value" value="99"><input name="csrf" value="guessed"></form>""")
        async with evil.expect_response(f"{base}/act") as forged:
            await evil.evaluate("document.forms[0].submit()")
        assert (await forged.value).status == 403
        # Even with the session's own cookie and a wrong token, or the right token from another site: refused.
        wrong = await page.request.post(f"{base}/act", form={"g": group, "do": "set", "plugin": "checkin", "key": "base_points",
                                                             "value": "99", "csrf": "guessed"})
        assert wrong.status == 403
        elsewhere = await page.request.post(f"{base}/act", headers={"Origin": "http://evil.example"},
                                            form={"g": group, "do": "set", "plugin": "checkin", "key": "base_points",
                                                  "value": "99", "csrf": csrf})
        assert elsewhere.status == 403
        assert engine.rulebook.effective("checkin", group).base_points == 10


# ----------------------------------------------------------------------------- operators (no browser needed)


async def test_operators_log_in_with_the_secret_see_every_group_and_sessions_expire(make_engine, rules_dir):
    import httpx

    (rules_dir / "sets.toml").write_text('[sets]\n"课程群" = ["qq:1", "wecom:w3"]\n', encoding="utf-8")
    engine = await make_engine(rules_dir, config=QunbotConfig.model_validate({"web": {"port": free_port(), "session_minutes": 30}}))
    now = engine.clock.now()
    for group in ("qq:1", "telegram:-2", "wecom:w3"):
        platform, _, chat = group.partition(":")
        await engine.handle(MessageReceived(at=now, platform=platform, group=chat, user="u1", name="甲", id="m1", text="你好"))
    async with console_served(engine, engine.config.web, {"QUNBOT_WEB_SECRET": "correct horse"}) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.post("/login", data={"secret": "wrong"})).status_code == 403
            assert (await client.get("/")).status_code == 303  # still nobody
            assert (await client.post("/login", data={"secret": "correct horse"})).status_code == 303
            everything = (await client.get("/")).text
            assert all(f'data-group="{g}"' in everything for g in ("qq:1", "telegram:-2", "wecom:w3"))
            only_qq = (await client.get("/?platform=qq")).text
            assert 'data-group="qq:1"' in only_qq and 'data-group="telegram:-2"' not in only_qq
            in_set = (await client.get("/", params={"set": "课程群"})).text
            assert 'data-group="wecom:w3"' in in_set and 'data-group="telegram:-2"' not in in_set
            assert "课程群" in (await client.get("/many")).text
            by_group = (await client.get("/?sort=group&desc=1")).text
            assert by_group.index('data-group="wecom:w3"') < by_group.index('data-group="qq:1"')
            engine.clock.set(now + timedelta(minutes=31))
            assert (await client.get("/")).headers["location"] == "/login"  # the session ran out


async def test_with_no_secret_configured_no_operator_gets_in(make_engine):
    import httpx

    engine = await make_engine(config=QunbotConfig.model_validate({"web": {"port": free_port()}}))
    async with console_served(engine, engine.config.web, {}) as base, httpx.AsyncClient(base_url=base) as client:
        assert "只能用 /后台 链接登录" in (await client.get("/login")).text
        assert (await client.post("/login", data={"secret": ""})).status_code == 403


async def test_the_many_groups_page_shows_relays_broadcasts_and_bans_and_lifts_a_ban(make_engine, rules_dir):
    import re

    import httpx

    (rules_dir / "sets.toml").write_text('[sets]\n"课程群" = ["qq:1", "qq:2"]\n', encoding="utf-8")
    (rules_dir / "bans.toml").write_text('share = ["课程群"]\n', encoding="utf-8")
    (rules_dir / "broadcasts.toml").write_text('accept_from = ["课程群"]\n', encoding="utf-8")
    engine = await make_engine(rules_dir, config=QunbotConfig.model_validate({"web": {"port": free_port()}}))
    now = engine.clock.now()
    said = iter(range(100))

    async def say(group: str, text: str, user: str = "boss", role: str = "owner"):
        engine.clock.set(now + timedelta(seconds=next(said)))
        return await engine.handle(MessageReceived(at=engine.clock.now(), group=group, user=user, name=user, role=role,
                                                   id=f"m{next(said)}", text=text))

    await say("2", "你好")
    await say("1", "/拉黑 spam01 发广告")
    await say("1", "/群发 课程群 明天停课")
    await say("1", "/群发 确认")
    await say("1", "/转播 开始 课程群")
    async with console_served(engine, engine.config.web, {"QUNBOT_WEB_SECRET": "s3cret"}) as base:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as client:
            await client.post("/login", data={"secret": "s3cret"})
            page = (await client.get("/many")).text
            assert "多群转播" in page and "qq:1" in page and "结束" in page
            assert "群发" in page and "明天停课" in page
            assert "共享黑名单" in page and "spam01" in page and "发广告" in page
            assert "spam01" not in (await client.get("/many", params={"q": "nobody"})).text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
            lifted = await client.post("/act", data={"csrf": csrf, "g": "qq:1", "do": "unban", "user": "spam01"})
            assert "已解除 spam01 的拉黑" in lifted.text
            assert "没有拉黑记录" in (await client.get("/many")).text
            stopped = await client.post("/act", data={"csrf": csrf, "g": "qq:1", "do": "relay_stop"})
            assert "转播已结束" in stopped.text


async def test_where_another_process_owns_the_group_the_console_does_nothing(make_engine):
    """Replicas with leases: a group's one voice is its owner; a page on another process changes nothing."""
    from datetime import datetime, timezone

    from bot.web.acting import run_as
    from bot.web.auth import Session

    class Elsewhere:  # the leases of a process that another one took qq:1 from
        def owns(self, key):
            return False

    engine = await make_engine()
    before = len(engine.outbox._queues)
    session = Session("operator", "运营", {"*": "owner"}, "t", datetime.now(timezone.utc) + timedelta(hours=1))
    own, engine.leases = engine.leases, Elsewhere()
    try:
        outcome = await run_as(engine, session, "qq:1", "/unban spam01")
    finally:
        engine.leases = own
    assert outcome.refused and "另一个 Qunbot 进程负责" in outcome.said[0] and outcome.acted == 0
    assert len(engine.outbox._queues) == before and await engine.store.run(audit_entries, "qq:1") == []
