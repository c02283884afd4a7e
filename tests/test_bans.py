"""Ban lists shared by group sets (plugins/bans.py): /ban, anti-ad removals, refusal on request and on
joining in the set's groups of the same platform, /unban everywhere, the list, CSV export and import."""

from __future__ import annotations

from pathlib import Path

from bot.engine import check_rules_dir
from bot.model import DecideJoin, KickMember
from plugins.bans import export_bans, import_rows, read_ban_csv
from tests.conftest import Chat, kinds, reports, texts

SETS = '[sets]\n"课程群" = ["qq:g1", "qq:g2", "telegram:g1"]\n"别的群" = ["qq:g3"]\n'
SHARED = 'share = ["课程群"]\n'
AD = "加我微信 xiaowang12345 日结兼职刷单"


async def engine_with(make_engine, only_rules, bans: str = SHARED, sets: str = SETS):
    rules = only_rules("anti_ad", bans=bans, sets=sets)
    text = (rules / "anti_ad.toml").read_text(encoding="utf-8")
    (rules / "anti_ad.toml").write_text(text.replace('ladder = ["warn", "mute 30m", "kick"]', 'ladder = ["kick"]')
                                        .replace('newcomer_ladder = ["mute 1h", "kick"]', 'newcomer_ladder = ["kick"]'),
                                        encoding="utf-8")
    return await make_engine(rules)


def declined(effects) -> list[DecideJoin]:
    return [e for e in effects if isinstance(e, DecideJoin) and not e.approve]


async def test_an_advertiser_removed_in_one_group_is_refused_in_the_others_of_the_set_until_unbanned(make_engine, only_rules):
    engine = await engine_with(make_engine, only_rules)
    g1, g2, g3 = Chat(engine, group="g1"), Chat(engine, group="g2"), Chat(engine, group="g3")
    removed = await g1.say(AD, user="spam", name="小广告")
    assert "kick" in kinds(removed)

    refused = await g2.request_join("spam", "我想进群")
    assert [d.user for d in declined(refused)] == ["spam"] and "黑名单" in declined(refused)[0].note
    assert "banned in qq:g1" in reports(refused)[0]
    assert declined(await g3.request_join("spam")) == []  # not in the set: its bans are not g3's
    tg = Chat(engine, platform="telegram", group="g1")
    assert declined(await tg.request_join("spam")) == []  # another platform: another person

    joined = await g2.join("spam", "小广告")  # let in by hand
    assert [type(e) for e in joined if isinstance(e, KickMember)] == [KickMember]
    said = [e for e in joined if e.name == "send"]
    assert said[0].after_done and "共享黑名单（来自 qq:g1）" in said[0].text and "已移出本群" in said[0].text

    lifted = await g2.say("/解除拉黑 spam", user="admin2", role="admin")
    assert "已解除 spam 的拉黑：qq:g1" in texts(lifted)[0]
    assert declined(await g2.request_join("spam")) == []
    assert declined(await g1.request_join("spam")) == []


async def test_an_admins_ban_holds_in_the_shared_groups_and_is_listed(make_engine, only_rules):
    engine = await engine_with(make_engine, only_rules)
    g1, g2 = Chat(engine, group="g1"), Chat(engine, group="g2")
    await g1.say("在吗", user="troll", name="捣乱的")
    banned = await g1.say("/拉黑 @troll 骂人", user="boss", role="admin", mentions=("troll",))
    assert kinds(banned)[0] == "kick"
    said = texts(banned)[0]
    assert "已将 捣乱的 加入本群黑名单（原因：骂人）" in said and "另外 1 个群" in said  # g2; telegram:g1 is another platform
    again = texts(await g1.say("/ban troll", user="boss", role="admin"))[0]
    assert "已经在本群的黑名单中" in again

    listed = texts(await g2.say("/黑名单", user="admin2", role="admin"))[0]
    assert "黑名单共 1 条" in listed and "捣乱的（troll）" in listed and "qq:g1：骂人" in listed
    assert "不能拉黑你自己" in texts(await g1.say("/拉黑 boss", user="boss", role="admin"))[0]
    assert "用法" in texts(await g1.say("/拉黑", user="boss", role="admin"))[0]
    refused = texts(await g1.say("/拉黑 @troll", user="member", mentions=("troll",)))
    assert "只有管理员可以使用" in refused[0]


async def test_without_sharing_a_ban_holds_only_where_it_was_made(make_engine, only_rules):
    engine = await engine_with(make_engine, only_rules, bans="")
    g1, g2 = Chat(engine, group="g1"), Chat(engine, group="g2")
    await g1.say("/拉黑 troll", user="boss", role="admin")
    assert declined(await g1.request_join("troll"))
    assert declined(await g2.request_join("troll")) == []
    assert "本群没有与其他群共享黑名单" in texts(await g1.say("/拉黑 other", user="boss", role="admin"))[0]


async def test_where_the_bot_cannot_remove_the_admins_are_told_and_nothing_claims_a_removal(make_engine, only_rules):
    engine = await engine_with(make_engine, only_rules, sets='[sets]\n"课程群" = ["wecom:w1", "wecom:w2"]\n')
    await Chat(engine, platform="wecom", group="w1").say("/拉黑 troll", user="boss", role="admin")
    joined = await Chat(engine, platform="wecom", group="w2").join("troll")
    assert "kick" not in kinds(joined)
    assert "没有移除成员的权限，已通知管理员处理" in texts(joined)[0] and "for an admin to do" in reports(joined)[0]


async def test_notad_on_a_removal_lifts_the_ban_it_brought(make_engine, only_rules):
    engine = await engine_with(make_engine, only_rules)
    g1, g2 = Chat(engine, group="g1"), Chat(engine, group="g2")
    await g1.say(AD, user="spam")
    assert declined(await g2.request_join("spam"))
    await g1.say("/不是广告 @spam", user="boss", role="admin", mentions=("spam",))
    assert declined(await g2.request_join("spam")) == []


async def test_the_list_exports_as_csv_and_imports_into_another_group(make_engine, only_rules, tmp_path: Path):
    engine = await engine_with(make_engine, only_rules)
    g1 = Chat(engine, group="g1")
    await g1.say("/拉黑 troll 刷屏", user="boss", role="admin")
    await g1.say(AD, user="spam")
    exported = await g1.say("/黑名单 导出", user="boss", role="admin")
    sent = [e for e in exported if e.name == "send"][0]
    assert "已导出：2 条" in sent.text and sent.file.endswith(".csv")
    header = engine.templates.render("bans/csv_header").split(",")
    rows = read_ban_csv(Path(sent.file), header)
    assert {r["user_id"] for r in rows} == {"troll", "spam"} and {r["source"] for r in rows} == {"command", "ad"}

    added = await engine.store.run(import_rows, rows, "qq:g3", "operator")
    assert added == 2 and await engine.store.run(import_rows, rows, "qq:g3", "operator") == 0
    refused = declined(await Chat(engine, group="g3").request_join("troll"))
    assert refused
    path, count = await export_bans(engine.services, ("qq:g3",), tmp_path / "g3.csv")
    assert count == 2 and "导入自 qq:g1" in path.read_text(encoding="utf-8-sig")

    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(header) + "\nqq,x,名字,qq:g1,command,原因,boss,昨天\n", encoding="utf-8")
    try:
        read_ban_csv(broken, header)
    except ValueError as exc:
        assert f"{broken}:2: at:" in str(exc)
    else:
        raise AssertionError("a row with a broken time must be refused")


def test_check_names_a_shared_set_that_does_not_exist(only_rules):
    rules = only_rules("anti_ad", bans='share = ["没有这个集合"]\n', sets=SETS)
    problems = [str(p) for p in check_rules_dir(rules)]
    assert any("bans.toml: share:" in p and "没有这个集合" in p for p in problems), problems


def test_operators_exchange_lists_with_the_command_line(tmp_path: Path, only_rules):
    from bot.cli import main

    rules = only_rules("anti_ad", bans=SHARED, sets=SETS)
    config = tmp_path / "config.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "bot.sqlite"}"\n', encoding="utf-8")
    listed = tmp_path / "list.csv"
    listed.write_text("平台,用户ID,昵称,拉黑的群,来源,原因,操作人,时间\n"
                      "qq,spam1,广告号,qq:other,command,发广告,admin,2026-11-30T10:00:00+08:00\n", encoding="utf-8")
    common = ["--config", str(config), "--rules", str(rules)]
    assert main(["bans", "import", str(listed), "--group", "qq:g1", *common]) == 0
    out = tmp_path / "out.csv"
    assert main(["bans", "export", "--group", "qq:g2", "--out", str(out), *common]) == 0  # g2 shares g1's bans
    assert "spam1,广告号,qq:g1,import,发广告（导入自 qq:other）" in out.read_text(encoding="utf-8-sig")
    telegram = tmp_path / "tg.csv"
    telegram.write_text(listed.read_text(encoding="utf-8").replace("\nqq,", "\ntelegram,"), encoding="utf-8")
    assert main(["bans", "import", str(telegram), "--group", "qq:g1", *common]) == 1


async def test_the_ban_store_keeps_one_standing_ban_per_group_and_the_lifted_history(store):
    from datetime import datetime, timezone

    from bot.store.bans import add_ban, lift_bans, standing_ban, standing_bans

    at = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    assert await store.run(add_ban, "qq", "u1", "甲", "qq:g1", "command", "骂人", "boss", at)
    assert not await store.run(add_ban, "qq", "u1", "甲", "qq:g1", "ad", "again", "boss", at)  # one standing ban
    assert await store.run(add_ban, "qq", "u1", "甲", "qq:g2", "ad", "contact_id", "anti_ad", at)
    found = await store.run(standing_ban, "qq", "u1", ("qq:g2", "qq:g1"))
    assert found["origin_group"] == "qq:g1" and found["reason"] == "骂人" and found["at"] == at
    assert await store.run(standing_ban, "telegram", "u1", ("qq:g1",)) is None
    assert await store.run(lift_bans, "qq", "u1", ("qq:g1", "qq:g2"), "boss", at, "ad") == ["qq:g2"]
    assert await store.run(lift_bans, "qq", "u1", ("qq:g1", "qq:g2"), "boss", at) == ["qq:g1"]
    assert await store.run(standing_bans, ("qq:g1", "qq:g2")) == []
    assert await store.run(add_ban, "qq", "u1", "甲", "qq:g1", "command", "又来了", "boss", at)  # banned anew after a lift
