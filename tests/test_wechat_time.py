"""WeChat event times: puppets report room-join/leave timestamps in seconds or in milliseconds."""

from datetime import datetime, timedelta, timezone

from bot.adapters.wechat.events import _time

JOINED = datetime(2026, 11, 23, 1, 2, 3, tzinfo=timezone.utc)


def test_seconds_and_milliseconds_give_the_same_moment():
    assert _time(int(JOINED.timestamp())) == JOINED
    assert _time(int(JOINED.timestamp()) * 1000) == JOINED
    assert _time(str(int(JOINED.timestamp()))) == JOINED  # some puppets send strings


def test_missing_or_nonsense_timestamps_mean_now():
    for stamp in (None, 0, "", "soon", -5):
        assert abs(_time(stamp) - datetime.now(timezone.utc)) < timedelta(minutes=1)
