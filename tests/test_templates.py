"""Templates: sandboxed, overridable by operators, all shipped ones compile."""

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
