"""WeChat rooms through a Wechaty puppet service (gRPC, spoken directly; see adapter.py)."""
