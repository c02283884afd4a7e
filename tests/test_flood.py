"""Flood counting (bot.flood) against the plain way it replaced: every message first drops every ended
track from the front of the queue, and a track counts on until it is dropped."""

import random
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

from bot.flood import FloodLimits, FloodTrack, FloodTracks, drop_oldest

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def plain_count(tracks: OrderedDict, key, at: datetime, text: str, limits: FloodLimits) -> str | None:
    while tracks and next(iter(tracks.values())).until < at:
        tracks.popitem(last=False)
    track = tracks.get(key)
    if track is None:
        track = tracks[key] = FloodTrack()
    else:
        tracks.move_to_end(key)
    track.until = at + limits.kept
    track.times.append(at)
    if at - track.times[0] > limits.window:
        track.times = [t for t in track.times if at - t <= limits.window]
    if text == track.last and track.first_at and at - track.first_at <= limits.repeat_window:
        track.repeats += 1
    else:
        track.last, track.repeats, track.first_at = text, 1, at
    if track.repeats >= limits.max_repeats:
        kind = "repeat"
    elif len(track.times) > limits.max_messages:
        kind = "flood"
    else:
        return None
    track.times.clear()
    track.repeats, track.last = 0, ""
    return kind


def test_counts_as_the_plain_way_on_random_streams():
    # Two groups with their own limits; members who burst, repeat themselves, pause and come back.
    limits = {"g1": FloodLimits.of(8, 10, 5, 120), "g2": FloodLimits.of(3, 5, 2, 30)}
    kinds = set()
    for seed in range(20):
        rng = random.Random(seed)
        fast, plain = FloodTracks(), OrderedDict()
        at = START
        for _ in range(3000):
            at += timedelta(seconds=rng.choice([0, 0, 0.2, 0.5, 1, 2, 5, 30, 200]))
            group, user = rng.choice(["g1", "g2"]), f"u{rng.randrange(3)}"
            text = rng.choice(["顶", "哈哈", f"第{rng.randrange(9)}句", f"第{rng.randrange(9)}句"])
            key = (group, user)
            kind = fast.count(key, at, text, limits[group])
            assert kind == plain_count(plain, key, at, text, limits[group])
            kinds.add(kind)
    assert kinds == {None, "flood", "repeat"}


def test_ended_tracks_go_at_the_next_sweep():
    limits = FloodLimits.of(8, 10, 5, 120)
    tracks = FloodTracks()
    for i in range(5):
        tracks.count(("g", f"u{i}"), START + timedelta(seconds=i), "hi", limits)
    assert len(tracks) == 5
    tracks.count(("g", "late"), START + timedelta(minutes=10), "hi", limits)
    assert list(tracks) == [("g", "late")]


def test_drop_oldest_stops_at_the_first_one_to_keep():
    kept = OrderedDict((i, i) for i in [1, 2, 5, 3, 9])
    drop_oldest(kept, lambda value: value < 4)
    assert list(kept) == [5, 3, 9]  # 3 stays: it comes after one that is kept
