"""Templates: sandboxed, overridable by operators, all shipped ones compile."""

import os

import pytest
from jinja2.exceptions import SecurityError

from bot.templates import Templates


def test_shipped_templates_compile():
    assert Templates().check_all() == []


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ result.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os }}",
])
def test_a_template_cannot_reach_python_internals(tmp_path, source):
    (tmp_path / "evil.j2").write_text(source, encoding="utf-8")
    templates = Templates(tmp_path)
    with pytest.raises(SecurityError):
        templates.render("evil", result=object())


def test_a_template_cannot_mutate_what_it_is_given(tmp_path):
    (tmp_path / "mutate.j2").write_text("{{ items.append(1) }}", encoding="utf-8")
    items: list = []
    with pytest.raises(SecurityError):
        Templates(tmp_path).render("mutate", items=items)
    assert items == []


def test_operator_override_wins_over_the_shipped_template(tmp_path):
    (tmp_path / "checkin").mkdir()
    (tmp_path / "checkin" / "already.j2").write_text("今天签过啦，{{ name }}！", encoding="utf-8")
    assert Templates(tmp_path).render("checkin/already", name="小王", result=None) == "今天签过啦，小王！"
    assert "已经签过到" in Templates().render("checkin/already", name="小王", result=None)


def test_a_broken_override_is_reported_by_check_with_its_file_and_line(tmp_path):
    (tmp_path / "checkin").mkdir()
    (tmp_path / "checkin" / "top.j2").write_text("排行榜\n{% for r in rows %}\n{{ r.name }\n{% endfor %}", encoding="utf-8")
    (tmp_path / "filters.j2").write_text("{{ name | no_such_filter }}", encoding="utf-8")
    problems = Templates(tmp_path).check_all()
    assert any(line.startswith(f"{tmp_path / 'checkin' / 'top.j2'}: line 3: ") for line in problems), problems
    assert any(line.startswith(f"{tmp_path / 'filters.j2'}: line 1: ") and "no_such_filter" in line for line in problems), problems


def _edit(path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a second later, whatever the file system's resolution


def test_a_template_broken_while_running_keeps_its_last_good_version_and_is_reported_once(tmp_path, monkeypatch):
    import bot.templates

    clock = [1000.0]
    monkeypatch.setattr(bot.templates.time, "monotonic", lambda: clock[0])
    told: list[str] = []
    (tmp_path / "part.j2").write_text("第 {{ n }} 次", encoding="utf-8")
    (tmp_path / "note.j2").write_text("你好，{% include 'part.j2' %}", encoding="utf-8")
    templates = Templates(tmp_path, report=told.append)
    assert templates.check_all() == []
    assert templates.render("note", n=1) == "你好，第 1 次"
    _edit(tmp_path / "note.j2", "你好\n{% if n %}{{ n }")
    _edit(tmp_path / "part.j2", "第 {{ n }} 次{% endfor %}")
    for n in (2, 3):
        clock[0] += bot.templates.RECHECK_SECONDS + 1
        assert templates.render("note", n=n) == f"你好，第 {n} 次"
    assert len(told) == 2, told  # each broken file once, not at every recheck
    assert any(f"note.j2: line 2: " in line for line in told) and any("part.j2: line 1: " in line for line in told), told
    assert all(line.startswith("template refused, last good version stays: ") for line in told)
    _edit(tmp_path / "note.j2", "再见，{% include 'part.j2' %}")
    _edit(tmp_path / "part.j2", "第 {{ n }} 回")
    clock[0] += bot.templates.RECHECK_SECONDS + 1
    assert templates.render("note", n=4) == "再见，第 4 回"


def test_an_edited_template_is_picked_up(tmp_path, monkeypatch):
    import bot.templates

    clock = [1000.0]
    monkeypatch.setattr(bot.templates.time, "monotonic", lambda: clock[0])
    path = tmp_path / "note.j2"
    path.write_text("first {{ n }}", encoding="utf-8")
    templates = Templates(tmp_path)
    assert templates.render("note", n=1) == "first 1"
    path.write_text("second {{ n }}, longer", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)  # a second later, whatever the file system's resolution
    clock[0] += 1
    assert templates.render("note", n=2) == "first 2"  # within the recheck interval: the compiled one
    clock[0] += bot.templates.RECHECK_SECONDS
    assert templates.render("note", n=3) == "second 3, longer"


def test_jinja_globals_stay_available_on_every_render(tmp_path):
    # The compiled template's globals are flattened once (see Templates._get): later renders still see them.
    (tmp_path / "count.j2").write_text("{% set ns = namespace(n=0) %}{% for i in range(k) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
                                       encoding="utf-8")
    templates = Templates(tmp_path)
    assert [templates.render("count", k=k) for k in (3, 4, 5)] == ["3", "6", "10"]


def test_no_shipped_line_loses_its_line_break_to_a_closing_tag():
    """With trim_blocks, a block tag ending a line eats that line's break: ``…积分 10{% endif %}`` followed by
    ``签到：…`` ran the two lines together (in /me, /tags, /pending, the welcome). A line of text that ends
    with a tag keeps its break with ``+%}``, or puts the conditional text on lines of its own."""
    import re

    from bot.templates import SHIPPED_TEMPLATES

    eaten = []
    for path in sorted(SHIPPED_TEMPLATES.rglob("*.j2")):
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, (line, following) in enumerate(zip(lines, lines[1:]), start=1):
            text = re.sub(r"\{[%#].*?[%#]\}", "", line).strip()
            defines = re.match(r"\{%-?\s*(macro|set)\b", line.strip())  # a definition prints nothing where it stands
            if (not defines and "{%" in line and re.search(r"[^+-]%\}$", line.rstrip()) and text and following.strip()
                    and not following.lstrip().startswith("{%-")):
                eaten.append(f"{path.relative_to(SHIPPED_TEMPLATES)}:{number}: {line}")
    assert eaten == []


def test_lists_of_rows_and_names_read_one_per_line_and_with_the_chinese_comma():
    from datetime import datetime

    templates, at = Templates(), datetime(2026, 12, 3, 8, 0)
    pending = templates.render("join_threshold/pending", rows=[
        dict(name="甲", user="u1", kind="quiz", since=at, deadline=at, attempts=1),
        dict(name="乙", user="u2", kind="intro", since=at, deadline=None, attempts=0)])
    assert pending.splitlines()[1:] == ["1. 甲（u1）— 入群答题中，12-03 08:00 起，期限 12-03 08:00，已答错 1 次",
                                        "2. 乙（u2）— 待自我介绍，12-03 08:00 起"]
    welcome = templates.render("welcome/welcome", joiners=[dict(name="小王"), dict(name="小李")], more=False, count=2,
                               member_count=30, rules_text="1. 友善交流", steps={})
    assert welcome.splitlines()[:3] == ["🎉 欢迎 小王、小李（2 位新朋友）加入本群！现在我们一共有 30 位成员。", "📜 群规：", "1. 友善交流"]
    quiet = templates.render("mute_window/list", windows=[dict(start=at, end=at, now=True), dict(start=at, end=at, now=False)],
                             adhoc=None, held=False, unknown=[])
    assert quiet.splitlines()[1:] == ["1. 12-03 08:00 – 12-03 08:00（进行中）", "2. 12-03 08:00 – 12-03 08:00"]


def test_every_kind_of_rule_error_the_code_raises_is_said_in_chinese_by_set():
    """A validator's PydanticCustomError("<kind>", …) reaches an owner's /set as core/set_invalid's sentence
    for that kind; without one, the owner reads the English."""
    import re

    from tests.conftest import ROOT

    raised = set()
    for folder in ("bot", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if "adapters" not in path.parts:  # deployment config, not rules: check and the log only
                raised |= set(re.findall(r'PydanticCustomError\(\s*"(\w+)"', path.read_text(encoding="utf-8")))
    said = (ROOT / "templates" / "core" / "set_invalid.j2").read_text(encoding="utf-8")
    assert len(raised) > 10 and sorted(kind for kind in raised if f'"{kind}"' not in said) == []
