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


def test_a_broken_override_is_reported_by_check(tmp_path):
    (tmp_path / "broken.j2").write_text("{% if %}", encoding="utf-8")
    assert any(line.startswith("templates/broken.j2: ") for line in Templates(tmp_path).check_all())


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
