"""The many-groups page: the group sets, and the panels of the features that act on several groups.

Relays (多群转播), broadcasts (群发) and shared ban lists add their panel here: an async function
``panel(engine, session) -> dict | None`` appended to ``many_groups_panels`` by the module that includes
the feature, returning ``{"title": …, "template": "many/<name>.html", …values}`` (None: nothing to show
this person). The page renders each panel's template with its values; its forms post to ``/act`` like every
other change, so they run as the feature's chat commands.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

Panel = Callable[[Any, Any], Awaitable[dict | None]]

many_groups_panels: list[Panel] = []
