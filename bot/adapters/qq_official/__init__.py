"""QQ groups through the official QQ Bot API v2 (QQ 开放平台). The adapter lives in ``adapter.py`` so
that importing the config model (``config.py``, needed by ``qunbot check``) imports no HTTP library."""
