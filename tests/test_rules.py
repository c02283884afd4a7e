"""Rule files: validation with file and key named, group overrides, the owner layer, reload."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.rules import RuleValueError
from tests.conftest import ROOT, Chat, reasons, texts


def qunbot(command: str, *args: str, cwd: Path = ROOT, **kw) -> subprocess.CompletedProcess:
    # PYTHONPATH: this checkout's code, from whatever folder the command runs in.
    return subprocess.run([sys.executable, "-m", "bot.cli", command, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, **kw)


def run_check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return qunbot("check", *args, cwd=cwd)


def test_shipped_rules_and_templates_pass_check():
    result = run_check("--rules", str(ROOT / "rules"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")


def test_check_names_file_and_key_of_a_typo_and_a_wrong_type(rules_dir: Path):
    (rules_dir / "checkin.toml").write_text('base_pionts = 5\nleaderboard_size = "many"\n', encoding="utf-8")
    result = run_check("--rules", str(rules_dir))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("checkin.toml: base_pionts: unknown key") and "base_points" in line for line in lines), lines
    assert any(line.startswith("checkin.toml: leaderboard_size: ") and "integer" in line for line in lines), lines


def test_check_reports_group_override_errors_with_their_path(rules_dir: Path):
    (rules_dir / "checkin.toml").write_text(
        '[groups."qq:1"]\nbase_points = -3\n[groups."qq:2"]\nstreak_bonuses = [{ days = 0, points = 1 }]\n[groups.nocolon]\n',
        encoding="utf-8",
    )
    lines = run_check("--rules", str(rules_dir)).stdout.splitlines()
    assert any(line.startswith('checkin.toml: groups."qq:1".base_points: ') for line in lines), lines
    assert any(line.startswith('checkin.toml: groups."qq:2".streak_bonuses[0].days: ') for line in lines), lines
    assert any(line.startswith('checkin.toml: groups."nocolon": ') for line in lines), lines


def test_check_reports_toml_syntax_and_unknown_plugin_and_bad_config(rules_dir: Path, tmp_path: Path):
    (rules_dir / "checkin.toml").write_text("base_points = = 5\n", encoding="utf-8")
    (rules_dir / "no_such_plugin.toml").write_text("", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text('timezone = "Mars/Olympus"\nadapterz = []\n', encoding="utf-8")
    result = run_check("--rules", str(rules_dir), "--config", str(config))
    assert result.returncode == 1
    out = result.stdout
    assert "checkin.toml: (toml): " in out
    assert "no_such_plugin.toml: (file): no plugin named 'no_such_plugin'" in out
    assert "config.toml: timezone: " in out and "Mars/Olympus" in out
    assert "config.toml: adapterz: unknown key" in out


async def test_group_override_applies_to_that_group_only(rules_dir: Path, make_engine):
    (rules_dir / "checkin.toml").write_text('base_points = 10\n[groups."qq:vip"]\nbase_points = 50\n', encoding="utf-8")
    engine = await make_engine(rules_dir)
    assert "获得 50 积分" in texts(await Chat(engine, group="vip").say("签到"))[0]
    assert "获得 10 积分" in texts(await Chat(engine, group="other").say("签到"))[0]


async def test_plugin_disabled_for_one_group(rules_dir: Path, make_engine):
    (rules_dir / "checkin.toml").write_text('[groups."qq:quiet"]\nenabled = false\n', encoding="utf-8")
    engine = await make_engine(rules_dir)
    assert await Chat(engine, group="quiet").say("签到") == []
    help_text = texts(await Chat(engine, group="quiet").say("/help"))[0]
    assert "/checkin" not in help_text
    assert reasons(await Chat(engine, group="loud").say("签到")) == ["checked_in"]


async def test_broken_file_on_reload_is_refused_and_last_good_rules_stay(rules_dir: Path, make_engine, caplog):
    path = rules_dir / "checkin.toml"
    path.write_text("base_points = 7\n", encoding="utf-8")
    engine = await make_engine(rules_dir)
    path.write_text("base_points = 7\nbase_pionts = 9\n", encoding="utf-8")
    errors = engine.load_rules()
    assert [str(e) for e in errors][0].startswith("checkin.toml: base_pionts: unknown key")
    assert engine.rulebook.effective("checkin", "qq:g1").base_points == 7
    path.write_text("base_points = 8\n", encoding="utf-8")
    assert engine.load_rules() == []
    assert engine.rulebook.effective("checkin", "qq:g1").base_points == 8


async def test_removing_and_adding_a_rule_file_stops_and_starts_the_plugin(rules_dir: Path, make_engine):
    engine = await make_engine(rules_dir)
    chat = Chat(engine)
    moved = rules_dir / "checkin.toml.off"
    (rules_dir / "checkin.toml").rename(moved)
    engine.load_rules()
    assert await chat.say("签到") == []
    moved.rename(rules_dir / "checkin.toml")
    engine.load_rules()
    assert reasons(await chat.say("签到")) == ["checked_in"]


async def test_owner_value_is_validated_by_the_model(make_engine):
    engine = await make_engine()
    with pytest.raises(RuleValueError) as err:
        engine.rulebook.check_owner_value("checkin", "qq:g1", "leaderboard_size", 500)
    assert err.value.errors[0].path == "leaderboard_size"
    with pytest.raises(RuleValueError):
        engine.rulebook.check_owner_value("checkin", "qq:g1", "no_such_key", 1)
    with pytest.raises(RuleValueError):
        engine.rulebook.check_owner_value("checkin", "qq:g1", "streak_bonuses", [{"days": 7, "points": 1, "__class__": 1}])


async def test_running_bot_picks_up_changes_and_refuses_a_broken_file(only_rules, make_engine, caplog):
    import asyncio

    from bot.config import QunbotConfig

    rules_dir = only_rules("checkin")
    path = rules_dir / "checkin.toml"
    engine = await make_engine(rules_dir, config=QunbotConfig(rules_poll_seconds=0.05))
    watcher = asyncio.create_task(engine.watch_rules())
    try:
        path.write_text("base_points = 42\n", encoding="utf-8")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if engine.rulebook.effective("checkin", "qq:g1").base_points == 42:
                break
        assert engine.rulebook.effective("checkin", "qq:g1").base_points == 42
        path.write_text("base_points = 43\nleaderboard_size = 0\n", encoding="utf-8")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if "rules refused" in caplog.text:
                break
        assert "rules refused, last good version stays: checkin.toml: leaderboard_size: " in caplog.text
        assert engine.rulebook.effective("checkin", "qq:g1").base_points == 42
        await asyncio.sleep(0.2)  # several more polls of the same broken file
        assert caplog.text.count("checkin.toml: leaderboard_size: ") == 1
    finally:
        watcher.cancel()


def test_example_config_passes_check():
    result = run_check("--config", str(ROOT / "config.example.toml"))
    assert result.returncode == 0, result.stdout


async def test_a_stored_owner_value_that_no_longer_fits_falls_back_to_the_file(tmp_path, make_engine):
    from bot.store.repos import save_setting

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    first = await make_engine(db_url=url)
    await first.store.run(save_setting, "qq:g1", "checkin", "leaderboard_size", 500)  # e.g. from an older model
    engine = await make_engine(db_url=url)
    chat = Chat(engine)
    assert reasons(await chat.say("签到")) == ["checked_in"]
    assert reasons(await chat.say("/top")) == ["leaderboard"]
    assert "leaderboard_size = 10（规则文件）" in texts(await chat.say("/config checkin", role="admin"))[0]


async def test_editor_lock_files_are_not_rule_files(only_rules, make_engine):
    rules_dir = only_rules("checkin", "anti_ad")
    (rules_dir / ".#checkin.toml").symlink_to("/nonexistent/lock")
    engine = await make_engine(rules_dir)
    assert engine.load_rules() == []
    assert run_check("--rules", str(rules_dir)).returncode == 0


def test_one_clock_time_and_one_festival_type_with_the_same_message_in_every_plugin(rules_dir: Path):
    from bot.almanac import Festivals
    from bot.rules import ClockSpan, ClockTime
    assert ClockTime and ClockSpan and Festivals
    broken = {
        "daily_posts.toml": ('festivals = ["圣诞"]\n[posts.morning]\ntime = "8:00"\ntemplate = "daily_posts/morning"\n',
                             ["posts.morning.time", "festivals"]),
        "red_packet.toml": ('prompt_time = "24:00"\nfestivals = ["光棍节"]\n', ["prompt_time", "festivals"]),
        "insights.toml": ('evaluate_time = "21:60"\nweekly_time = "nine"\n', ["evaluate_time", "weekly_time"]),
        "mute_window.toml": ('[windows.night]\ntime = "23:00-7:00"\n', ["windows.night.time"]),
    }
    for name, (text, _) in broken.items():
        (rules_dir / name).write_text(text, encoding="utf-8")
    lines = run_check("--rules", str(rules_dir)).stdout.splitlines()
    for name, (_, keys) in broken.items():
        for key in keys:
            [line] = [line for line in lines if line.startswith(f"{name}: {key}: ")]
            if key.endswith("festivals"):
                assert "unknown festival" in line and "known: 春节" in line, line
            elif name == "mute_window.toml":
                assert 'must be a span of two times of day like "09:00-10:00"' in line, line
            else:
                assert 'must be a time of day like "08:00" (24-hour HH:MM)' in line, line


def test_one_patterns_type_for_answer_and_ad_regular_expressions(rules_dir: Path):
    from bot.rules import FILE_ONLY, Patterns
    assert FILE_ONLY in Patterns.__metadata__  # never settable from the chat
    (rules_dir / "join_threshold.toml").write_text('[[questions]]\nask = "?"\npatterns = ["(unclosed"]\n', encoding="utf-8")
    (rules_dir / "anti_ad.toml").write_text('[lists.spam]\npatterns = ["[z-a]"]\n', encoding="utf-8")
    lines = run_check("--rules", str(rules_dir)).stdout.splitlines()
    assert any(line.startswith("join_threshold.toml: questions[0].patterns: ") and "does not compile" in line for line in lines), lines
    assert any(line.startswith("anti_ad.toml: lists.spam.patterns: ") and "does not compile" in line for line in lines), lines


def test_run_refuses_to_start_on_what_check_refuses_and_says_the_same_lines(rules_dir: Path, tmp_path: Path):
    (rules_dir / "checkin.toml").write_text('base_pionts = 5\n[groups."qq:1"]\nleaderboard_size = "many"\n', encoding="utf-8")
    (rules_dir / "nickname.toml").write_text('pattern = "{city}-{company}"\nlabels = { city = "城市", company = "公司" }\n',
                                             encoding="utf-8")
    overrides = tmp_path / "my_templates"
    (overrides / "checkin").mkdir(parents=True)
    (overrides / "checkin" / "top.j2").write_text("排行\n{% for r in rows %}{{ r.name }}\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'templates_dir = "{overrides.as_posix()}"\ndatabase_url = "sqlite:///{(tmp_path / "q.sqlite").as_posix()}"\n',
                      encoding="utf-8")
    checked = run_check("--rules", str(rules_dir), "--config", str(config), cwd=tmp_path)
    expected = checked.stdout.splitlines()
    assert checked.returncode == 1 and len(expected) == 4, "\n".join(expected)
    assert any(line.startswith(f"{overrides / 'checkin' / 'top.j2'}: line 2: ") for line in expected), expected
    assert any(line.startswith("nickname.toml: pattern: {company} is not a field of the introduction") for line in expected)
    for command in ("run", "console"):
        started = qunbot(command, "--rules", str(rules_dir), "--config", str(config), cwd=tmp_path, input="签到\n", timeout=120)
        assert started.returncode == 1, started.stderr
        assert started.stderr.splitlines()[:-1] == expected
        assert "not started" in started.stderr.splitlines()[-1] and started.stdout == ""
        assert not (tmp_path / "q.sqlite").exists()  # nothing opened, nothing served


def test_check_knows_the_nickname_parts_the_introduction_fills(rules_dir: Path):
    (rules_dir / "nickname.toml").write_text('pattern = "{ctiy}-{nickname}"\n', encoding="utf-8")
    lines = run_check("--rules", str(rules_dir)).stdout.splitlines()
    assert lines[0].startswith("nickname.toml: pattern: {ctiy} is not one of the labelled parts (city, industry, nickname)"), lines
    (rules_dir / "nickname.toml").write_text(
        'pattern = "{city}-{source}-{nickname}"\nlabels = { city = "城市", source = "来源", nickname = "称呼" }\n'
        '[groups."qq:1"]\npattern = "{company}-{nickname}"\nlabels = { company = "公司" }\n', encoding="utf-8")
    with (rules_dir / "self_intro.toml").open("a", encoding="utf-8") as out:
        out.write('[groups."qq:2"]\nfields = [{ key = "city", label = "城市" }, { key = "nickname", label = "称呼" }]\n')
    result = run_check("--rules", str(rules_dir))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        'nickname.toml: groups."qq:1".pattern: {company} is not a field of the introduction (self_intro.toml fields: '
        'city, industry, nickname, source), so no member\'s introduction can fill it',
        'nickname.toml: groups."qq:2".pattern: {source} is not a field of the introduction (self_intro.toml fields: '
        'city, nickname), so no member\'s introduction can fill it']
    (rules_dir / "self_intro.toml").unlink()  # without introductions, the labels alone say what a part is
    assert run_check("--rules", str(rules_dir)).returncode == 0


async def test_a_nickname_part_without_a_label_is_refused_on_reload(rules_dir: Path, make_engine):
    path = rules_dir / "nickname.toml"
    engine = await make_engine(rules_dir)
    path.write_text('pattern = "{city}-{nickanme}"\n', encoding="utf-8")
    errors = [str(e) for e in engine.load_rules()]
    assert errors and errors[0].startswith("nickname.toml: pattern: {nickanme} is not one of the labelled parts"), errors
    assert engine.rulebook.effective("nickname", "qq:g1").pattern == "{city}-{industry}-{nickname}"
