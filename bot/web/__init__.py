"""The operator's web console (``[web]`` in config.toml): every group on one page, served by ``qunbot run``.

Nothing here is imported unless the console is on (config reads only ``bot.web.config``). Pages read
through the same code as the chat commands (/stage, /stats, /pending, /config); every change a page makes
is a chat command run as the person logged in (``bot.web.acting``), so it meets the same permission check,
validation, guards and audit as in the chat.
"""
