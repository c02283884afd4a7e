"""Who may change what with /set: marks that hold inside tables, lists and unions; adding a table entry;
the owner's safeguards; delegation through the rule file; what /config says about it."""

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from bot.bus import Plugin
from bot.rules import FILE_ONLY, OWNER_ONLY, Patterns, PluginRules, guard_map, required_level
from bot.store.repos import audit_entries, load_settings
from tests.conftest import Chat, reasons, texts


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    secret: Annotated[str, FILE_ONLY] = ""
    guard: Annotated[bool, OWNER_ONLY] = True


class GuardedRules(PluginRules):
    answers: dict[str, Patterns] = {}  # the mark sits on the table's value type, not on the field
    maybe: Patterns | None = None
    tags: list[Annotated[str, OWNER_ONLY]] = []
    shelves: dict[str, list[Item]] = {}
    table: dict[str, Item] = {}
    plain: int = 0


def test_a_mark_holds_inside_a_table_a_list_and_a_union():
    base = GuardedRules()
    assert required_level(base, GuardedRules(answers={"x": ["(a+)+$"]})) == ("file", ["answers.x"])
    assert required_level(base, GuardedRules(maybe=["a"])) == ("file", ["maybe"])
    assert required_level(base, GuardedRules(tags=["vip"])) == ("owner", ["tags[0]"])
    shelf = GuardedRules(shelves={"s": [Item(name="a"), Item(secret="x")]})
    assert required_level(base, shelf) == ("file", ["shelves.s[1].secret"])
    assert required_level(base, GuardedRules(plain=5)) == ("admin", [])


def test_adding_a_table_entry_does_not_count_its_defaults_as_changes():
    base = GuardedRules()
    added = GuardedRules(table={"n": Item(name="a")})
    assert required_level(base, added) == ("admin", [])  # secret "" and guard true are only the defaults
    assert required_level(added, base) == ("admin", [])  # and removing such an entry changes no guarded key
    assert required_level(base, GuardedRules(table={"n": Item(guard=False)})) == ("owner", ["table.n.guard"])
    assert required_level(base, GuardedRules(table={"n": Item(secret="s", guard=False)})) == (
        "file", ["table.n.guard", "table.n.secret"])
    assert required_level(added, GuardedRules(table={"n": Item(name="b")})) == ("admin", [])


def test_guard_map_names_marked_keys_wherever_they_sit():
    marks = guard_map(GuardedRules)
    assert marks == {"enabled": "owner", "owner_delegates": "file", "answers.*": "file", "maybe": "file",
                     "tags[]": "owner", "shelves.*[].secret": "file", "shelves.*[].guard": "owner",
                     "table.*.secret": "file", "table.*.guard": "owner"}


async def test_set_through_a_path_into_a_table_of_patterns_is_refused(rules_dir: Path, make_engine, extra_plugin):
    extra_plugin("guarded", Plugin("guarded", GuardedRules))
    (rules_dir / "guarded.toml").write_text("[answers]\nok = ['a']\n", encoding="utf-8")
    chat = Chat(await make_engine(rules_dir))
    for command in ('/set guarded answers.x ["(a+)+$"]', '/set guarded answers.ok ["(a+)+$"]', '/set guarded maybe ["b"]',
                    '/set guarded shelves.s [{ secret = "x" }]', '/set guarded table.n.secret "x"'):
        assert reasons(await chat.say(command, role="owner")) == ["file_only"], command
    assert reasons(await chat.say('/set guarded tags ["vip"]', role="admin")) == ["owner_only"]
    assert reasons(await chat.say('/set guarded table.n.guard false', role="admin")) == ["owner_only"]
    assert await chat.engine.store.run(load_settings) == {}
    assert chat.engine.rulebook.effective("guarded", "qq:g1").answers == {"ok": ["a"]}
    # What the marks leave to admins stays theirs: a new table entry, or a list of items without secrets.
    assert reasons(await chat.say('/set guarded table.n.name "x"', role="admin")) == ["setting_changed"]
    assert reasons(await chat.say('/set guarded shelves.s [{ name = "a" }]', role="admin")) == ["setting_changed"]
    assert reasons(await chat.say("/unset guarded table.n", role="admin")) == ["setting_changed"]


async def test_an_admin_adds_a_rotation_but_never_its_folder(chat: Chat):
    assert reasons(await chat.say('/set daily_posts rotations.news.items ["周一例会"]', role="admin")) == ["setting_changed"]
    rotations = chat.engine.rulebook.effective("daily_posts", "qq:g1").rotations
    assert rotations["news"].items == ["周一例会"] and rotations["news"].folder == ""
    assert reasons(await chat.say('/set daily_posts rotations.news.folder "tips"', role="owner")) == ["file_only"]
    assert reasons(await chat.say("/unset daily_posts rotations.news", role="admin")) == ["setting_changed"]
    assert "news" not in chat.engine.rulebook.effective("daily_posts", "qq:g1").rotations


# ----------------------------------------------------------------------------- the owner's safeguards

SAFEGUARDS_OFF = [
    "join_threshold enabled false", "join_threshold quiz_after_join false", "join_threshold block_after 0",
    'join_threshold questions [{ ask = "?", keywords = ["a"] }]', 'join_threshold while_pending "free"',
    "join_threshold quiz_attempts 20", "join_threshold review_mute_minutes 0",
    "anti_ad enabled false", "anti_ad dry_run true", "anti_ad delete false", "anti_ad threshold 100",
    'anti_ad ladder ["warn"]', 'anti_ad exempt_users ["qq:spammer"]', 'anti_ad allow_domains ["spam.cn"]',
    "anti_ad flood.enabled false", "anti_ad weights.contact 0", 'anti_ad lists.loan.words []', "anti_ad decay_hours 1",
]


async def test_an_admin_cannot_switch_off_the_owner_s_safeguards(chat: Chat):
    before = {p: chat.engine.rulebook.effective(p, "qq:g1") for p in ("join_threshold", "anti_ad")}
    for command in SAFEGUARDS_OFF:
        refused = await chat.say(f"/set {command}", user="boss", role="admin")
        assert reasons(refused) == ["owner_only"], command
        assert "只有群主可以修改" in refused[0].text
    assert {p: chat.engine.rulebook.effective(p, "qq:g1") for p in before} == before
    assert await chat.engine.store.run(audit_entries, "qq:g1") == []
    assert reasons(await chat.say("/set join_threshold quiz_minutes 5", user="boss", role="admin")) == ["setting_changed"]


async def test_every_plugin_is_switched_off_and_on_by_the_owner_only(chat: Chat):
    for plugin in sorted(chat.engine.plugins):  # each switched the other way (invites is shipped off)
        on = chat.engine.rulebook.effective(plugin, "qq:g1") is not None
        assert reasons(await chat.say(f"/set {plugin} enabled {str(not on).lower()}", role="admin")) == ["owner_only"], plugin
    assert reasons(await chat.say("/set anti_ad enabled false", user="root", role="owner")) == ["setting_changed"]
    assert chat.engine.rulebook.effective("anti_ad", "qq:g1") is None
    assert reasons(await chat.say("/unset anti_ad enabled", role="admin")) == ["owner_only"]
    assert reasons(await chat.say("/set anti_ad enabled true", role="admin")) == ["owner_only"]
    assert chat.engine.rulebook.effective("anti_ad", "qq:g1") is None


# ----------------------------------------------------------------------------- delegation


def delegate(rules_dir: Path, plugin: str, line: str) -> None:
    path = rules_dir / f"{plugin}.toml"
    path.write_text(f"{line}\n{path.read_text(encoding='utf-8')}", encoding="utf-8")


async def test_the_rule_file_names_who_acts_as_owner_for_one_plugin(rules_dir: Path, make_engine):
    delegate(rules_dir, "anti_ad", 'owner_delegates = ["qq:deputy"]')
    chat = Chat(await make_engine(rules_dir))
    assert reasons(await chat.say("/set anti_ad threshold 3", user="deputy", role="admin")) == ["setting_changed"]
    assert chat.engine.rulebook.effective("anti_ad", "qq:g1").threshold == 3
    [entry] = await chat.engine.store.run(audit_entries, "qq:g1")
    assert (entry["user_id"], entry["role"]) == ("deputy", "delegate")
    assert reasons(await chat.say("/set anti_ad threshold 9", user="other", role="admin")) == ["owner_only"]
    # For that plugin only, on that platform only, and never for what only the file may set.
    assert reasons(await chat.say("/set join_threshold block_after 0", user="deputy", role="admin")) == ["owner_only"]
    elsewhere = Chat(chat.engine, platform="telegram")
    assert reasons(await elsewhere.say("/set anti_ad threshold 9", user="deputy", role="admin")) == ["owner_only"]
    for role in ("admin", "owner"):
        refused = await chat.say('/set anti_ad owner_delegates ["qq:boss"]', user="deputy", role=role)
        assert reasons(refused) == ["file_only"]
    # The command itself stays an admin's: a delegate who is a plain member is turned away like any member.
    assert reasons(await chat.say("/set anti_ad threshold 9", user="deputy", role="member")) == ["not_permitted"]


async def test_a_group_table_delegates_for_that_group_only(rules_dir: Path, make_engine):
    path = rules_dir / "join_threshold.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[groups."qq:g2"]\nowner_delegates = ["qq:deputy"]\n',
                    encoding="utf-8")
    engine = await make_engine(rules_dir)
    assert reasons(await Chat(engine, group="g2").say("/set join_threshold block_after 5", user="deputy", role="admin")) \
        == ["setting_changed"]
    assert reasons(await Chat(engine, group="g1").say("/set join_threshold block_after 5", user="deputy", role="admin")) \
        == ["owner_only"]


def test_a_delegate_is_named_with_the_platform(rules_dir: Path):
    from tests.test_rules import run_check

    delegate(rules_dir, "anti_ad", 'owner_delegates = ["123456", "qq:"]')
    lines = run_check("--rules", str(rules_dir)).stdout.splitlines()
    assert any(line.startswith("anti_ad.toml: owner_delegates[0]: ") and '"<platform>:<user id>"' in line for line in lines), lines
    assert any(line.startswith("anti_ad.toml: owner_delegates[1]: ") for line in lines), lines


# ----------------------------------------------------------------------------- /config


async def test_config_says_which_keys_are_the_owner_s_and_which_the_file_s(chat: Chat):
    shown = texts(await chat.say("/config join_threshold", role="admin"))[0]
    assert 'mode = "answer"（规则文件；仅群主可改）' in shown
    assert "quiz_minutes = 10（规则文件）" in shown
    assert "owner_delegates = []（默认；仅规则文件可改）" in shown
    assert "；其中 questions[].patterns 仅规则文件可改）" in shown
    posts = texts(await chat.say("/config daily_posts", role="admin"))[0]
    assert "（规则文件；其中 rotations.*.folder 仅规则文件可改）" in posts
