"""Admission through `qunbot replay` (the black box): requests decided, a WeChat quiz ending in the removal
fallback, an introduction setting the QQ card, and a restart in the middle of a verification."""

from tests.test_replay import records, run_replay, write_events

T = "2026-11-23T10:{:02d}:00+08:00"


def test_requests_quiz_intro_and_card(tmp_path):
    events = [
        {"at": T.format(0), "event": "join_request", "group": "g1", "user": "a1", "name": "甲", "id": "r1", "answer": "公众号"},
        {"at": T.format(1), "event": "join_request", "group": "g1", "user": "a2", "name": "乙", "id": "r2", "answer": "路过"},
        {"at": T.format(2), "event": "member_joined", "group": "g1", "user": "a1", "name": "甲"},
        {"at": T.format(3), "event": "message", "group": "g1", "user": "a1", "name": "甲", "id": "m1", "text": "上海 电商 阿甲"},
        {"at": T.format(4), "event": "member_joined", "platform": "wechat", "group": "w1", "user": "b1", "name": "丙", "inviter": "x"},
    ]
    result = run_replay(str(write_events(tmp_path / "ev.jsonl", events)), "--until", "2026-11-23T10:30:00+08:00")
    assert result.returncode == 0, result.stderr
    out = [(r["action"], r["reason"], r.get("approve"), r.get("card")) for r in records(result.stdout)
           if r["plugin"] in ("join_threshold", "self_intro", "nickname")]
    assert out == [
        ("decide_join", "right_answer", True, None), ("decide_join", "wrong_answer", False, None),
        ("timer", "intro_due", None, None),  # a1's introduction: its first reminder
        ("send", "intro_confirmed", None, None), ("set_card", "card_from_intro", None, "上海-电商-阿甲"),
        ("cancel_timer", "intro_due", None, None),
        ("send", "quiz_started", None, None), ("timer", "quiz_deadline", None, None),
        ("send", "quiz_timeout", None, None), ("send", "quiz_timeout", None, None),  # WeChat: the kick's fallback
    ]
    kick = [r for r in records(result.stdout) if r["reason"] == "quiz_timeout"]
    assert kick[0]["at"] == kick[1]["at"] == "2026-11-23T10:14:00+08:00" and "没有移除成员的权限" in kick[1]["text"]
    assert "移出本群" not in kick[0]["text"]  # the bot does not own the room: nobody was removed


def test_a_restart_in_the_middle_of_a_verification_keeps_its_deadline(tmp_path):
    db = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    first = [{"at": T.format(0), "event": "member_joined", "group": "g1", "user": "c1", "name": "丁", "inviter": "x"},
             {"at": T.format(3), "event": "message", "group": "g1", "user": "c1", "name": "丁", "id": "m1", "text": "不知道"}]
    one = run_replay(str(write_events(tmp_path / "one.jsonl", first)), "--db", db)
    assert [(r["action"], r["reason"]) for r in records(one.stdout) if r["plugin"] == "join_threshold"] == [
        ("send", "quiz_started"), ("timer", "quiz_deadline"), ("delete", "pending"), ("send", "wrong_answer")]
    # The second process starts later; its first event comes after the deadline (10:10).
    second = [{"at": T.format(20), "event": "message", "group": "g1", "user": "u1", "name": "老王", "id": "m2", "text": "有人吗"}]
    two = run_replay(str(write_events(tmp_path / "two.jsonl", second)), "--db", db)
    assert two.returncode == 0, two.stderr
    removed = [(r["at"], r["action"]) for r in records(two.stdout) if r["reason"] == "quiz_timeout"]
    assert removed == [("2026-11-23T10:10:00+08:00", "kick"), ("2026-11-23T10:10:00+08:00", "send")]
    # Nobody got through: running the second part again on the same database removes nobody twice.
    again = run_replay(str(write_events(tmp_path / "three.jsonl", second)), "--db", db)
    assert [r for r in records(again.stdout) if r["reason"] == "quiz_timeout"] == []
