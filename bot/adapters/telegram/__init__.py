"""The Telegram adapter package. Only modules under it import ``telegram`` (python-telegram-bot); this
file imports nothing, so reading config.toml's ``[telegram]`` section never loads the SDK."""
