"""WeCom groups: the AI bot (智能机器人) by long connection or callbacks, and group webhooks (see adapter.py)."""
