"""Group sets (rules/sets.toml): validation, rule overrides by set, reloads, /sets and /config."""

from __future__ import annotations

from pathlib import Path

from bot.engine import check_rules_dir
from bot.group_sets import GroupSets, load_group_sets
from tests.conftest import Chat, texts

SETS = '[sets]\n"课程群" = ["qq:g1", "telegram:-100", "wecom:w1"]\n"城市群" = ["qq:g1", "qq:g2"]\n'


def write(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(body, encoding="utf-8")


def test_sets_answer_members_memberships_and_partners(tmp_path: Path):
    write(tmp_path, "sets.toml", SETS)
    sets, errors = load_group_sets(tmp_path)
    assert errors == []
    assert sets.members("课程群") == ("qq:g1", "telegram:-100", "wecom:w1")
    assert sets.of("qq:g1") == ("课程群", "城市群")
    assert sets.of("qq:g9") == ()
    assert sets.partners("qq:g1") == ("telegram:-100", "wecom:w1", "qq:g2")
    try:
        sets.members("没有")
    except LookupError as exc:
        assert "课程群, 城市群" in str(exc)
    else:
        raise AssertionError("an unknown set must be an error")


def test_no_sets_file_is_no_sets(tmp_path: Path):
    assert load_group_sets(tmp_path) == (GroupSets(), [])


def test_a_broken_sets_file_names_the_file_and_key(tmp_path: Path):
    for body, expected in [
        ('[sets]\nA = ["g1"]\n', 'sets.toml: sets: Value error, A: group \'g1\' must be "<platform>:<group id>"'),
        ('[sets]\nA = ["icq:1"]\n', "unknown platform 'icq'"),
        ('[sets]\nA = ["qq:1", "qq:1"]\n', "A: a group is listed twice"),
        ('[set]\nA = ["qq:1"]\n', "sets.toml: set: unknown key"),
        ('[sets\n', "sets.toml: (toml):"),
    ]:
        write(tmp_path, "sets.toml", body)
        sets, errors = load_group_sets(tmp_path)
        assert sets is None
        assert expected in "\n".join(str(e) for e in errors), (body, errors)


def test_check_reports_overrides_of_unknown_sets_and_checks_set_tables(tmp_path: Path):
    write(tmp_path, "sets.toml", SETS)
    write(tmp_path, "checkin.toml", '[sets."课程群"]\nbase_points = 20\n[sets."没有的集合"]\nbase_points = 5\n'
                                    '[sets."城市群"]\nbase_points = "many"\n')
    lines = [str(e) for e in check_rules_dir(tmp_path)]
    assert 'checkin.toml: sets."城市群".base_points: ' in "\n".join(lines)
    write(tmp_path, "checkin.toml", '[sets."课程群"]\nbase_points = 20\n[sets."没有的集合"]\nbase_points = 5\n')
    assert [str(e) for e in check_rules_dir(tmp_path)] == [
        'checkin.toml: sets."没有的集合": unknown group set (sets.toml defines: 课程群, 城市群)']


async def test_a_set_override_applies_to_its_groups_and_a_group_table_wins(tmp_path: Path, make_engine):
    write(tmp_path, "sets.toml", SETS)
    write(tmp_path, "checkin.toml", 'base_points = 10\n[sets."课程群"]\nbase_points = 20\nleaderboard_size = 3\n'
                                    '[groups."telegram:-100"]\nbase_points = 30\n')
    engine = await make_engine(tmp_path)
    effective = lambda group: engine.rulebook.effective("checkin", group)  # noqa: E731
    assert (effective("qq:g1").base_points, effective("qq:g1").leaderboard_size) == (20, 3)
    assert (effective("telegram:-100").base_points, effective("telegram:-100").leaderboard_size) == (30, 3)
    assert effective("qq:g2").base_points == 10
    config = texts(await Chat(engine, group="g1").say("/config checkin", role="owner"))[0]
    assert "base_points = 20（规则文件·群组集合）" in config
    assert "base_points = 10" not in config


async def test_sets_reload_and_a_broken_sets_file_keeps_the_last_good_sets(tmp_path: Path, make_engine):
    write(tmp_path, "sets.toml", SETS)
    write(tmp_path, "checkin.toml", 'base_points = 10\n[sets."城市群"]\nbase_points = 20\n')
    engine = await make_engine(tmp_path)
    assert engine.rulebook.effective("checkin", "qq:g2").base_points == 20
    write(tmp_path, "sets.toml", '[sets]\n"城市群" = ["qq:g1"]\n# shorter: a new fingerprint\n')
    assert engine.load_rules() == []
    assert engine.rulebook.effective("checkin", "qq:g2").base_points == 10
    assert engine.services.group_sets().members("城市群") == ("qq:g1",)
    write(tmp_path, "sets.toml", '[sets]\n"城市群" = ["qq:g1", "g3"]\n')
    assert "sets.toml: sets:" in str(engine.load_rules()[0])
    assert engine.load_rules() == []  # refused once, not every poll
    assert engine.services.group_sets().members("城市群") == ("qq:g1",)


async def test_sets_command_shows_this_groups_sets(tmp_path: Path, make_engine):
    write(tmp_path, "sets.toml", SETS + '"海外群" = ["telegram:-200"]\n')
    engine = await make_engine(tmp_path)
    shown = texts(await Chat(engine, group="g2").say("/群组集合", role="admin"))[0]
    assert "· 城市群（2 个群）：qq:g1、qq:g2（本群）" in shown
    assert "其他群组集合：课程群、海外群" in shown
    write(tmp_path, "sets.toml", "")
    engine.load_rules()
    assert "还没有定义群组集合" in texts(await Chat(engine, group="g2").say("/sets", role="admin"))[0]
