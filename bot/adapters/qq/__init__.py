"""The QQ adapter (OneBot v11). The adapter itself lives in ``adapter.py`` so that importing the config
model (``bot.adapters.qq.config``, needed by ``qunbot check``) does not import the WebSocket library."""
