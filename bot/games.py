"""What a game plugin keeps in memory about where its game runs (idiom chain, quiz)."""

from __future__ import annotations

from bot.store.games import running_games


class RunningGames:
    """Which groups play ``game`` now, as far as this process knows: group -> True while one runs, False when
    none does. After a start every group's running game is read, in one query, by the first message that
    may be a move (``read``); until then a group not in ``playing`` may be playing."""

    def __init__(self, game: str) -> None:
        self.game = game
        self.playing: dict[str, bool] = {}
        self.read = False

    def may_play(self, group: str) -> bool:
        known = self.playing.get(group)
        return known is True or (known is None and not self.read)

    async def may_play_now(self, store, group: str) -> bool:
        """``may_play``, once every group's running game is read (once per process)."""
        if not self.read:
            for running in await store.run(running_games, self.game):
                self.playing.setdefault(running, True)
            self.read = True
        return self.may_play(group)
