"""Start, kill and restart a protocol peer process on loopback: the Node peers (tests/telegram_peer,
tests/wechat_peer) and our OneBot simulator run as a process (tests/onebot_process.py).

A peer prints one JSON line ``{"ready": <port>}`` on standard output once it listens. The same
``PeerProcess`` can be killed and started again on the same ports, as a crashed server that its
supervisor brings back: the bot must find it there without being told.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerProcess:
    """``command`` run in ``cwd``; ``ready`` is the port it must report."""

    def __init__(self, command: list[str], cwd: Path, ready: int, env: dict[str, str] | None = None, log: Path | None = None):
        self.command, self.cwd, self.ready = command, cwd, ready
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the process and wait for its ready line; fails the test with its output if it never comes."""
        stderr = open(self.log, "a", encoding="utf-8") if self.log else subprocess.PIPE
        try:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, stdout=subprocess.PIPE,
                                         stderr=stderr, text=True, env=self.env)
        finally:
            if self.log:
                stderr.close()
        line = self.proc.stdout.readline()
        try:
            ready = json.loads(line or "{}").get("ready")
        except ValueError:
            ready = None
        if ready != self.ready:
            self.kill()
            problem = self.log.read_text(encoding="utf-8")[-2000:] if self.log else self.proc.stderr.read()
            pytest.fail(f"{' '.join(self.command)} did not start on port {self.ready}: {line!r}\n{problem}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to the client, no state saved on the way out (as when a server crashes)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM: the peer may close its sockets in order."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Kill the process and start a new one on the same ports."""
        self.kill()
        self.start()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NodePeer(PeerProcess):
    """``node <script> <args…>`` in ``cwd``, whose npm ``package`` must be installed there."""

    def __init__(self, cwd: Path, script: str, args: list[str], ready: int, env: dict[str, str] | None = None,
                 log: Path | None = None, package: str = ""):
        if package and not (cwd / "node_modules" / package).is_dir():
            pytest.fail(f"{package} is not installed: run `npm ci` in {cwd} (bash scripts/test.sh does)")
        super().__init__(["node", script, *args], cwd, ready, env, log)
