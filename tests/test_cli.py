"""The qunbot command line: every subcommand explains itself; db upgrade migrates the configured database."""

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import ROOT


def qunbot(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={"PATH": "", "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("command", [[], ["run"], ["console"], ["check"], ["replay"], ["db"], ["db", "upgrade"]])
def test_help(command):
    result = qunbot(*command, "--help")
    assert result.returncode == 0 and "usage: qunbot" in result.stdout
    assert len(result.stdout.splitlines()) > 3


def test_db_upgrade_creates_the_schema(tmp_path):
    db = tmp_path / "q.sqlite"
    config = tmp_path / "c.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n', encoding="utf-8")
    result = qunbot("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tables = set(inspect(create_engine(f"sqlite:///{db}")).get_table_names())
    assert {"alembic_version", "checkins", "members", "daily_counters", "group_settings", "audit_log", "groups"} <= tables


def test_bad_config_is_named_and_refused(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('adapters = ["fax"]\n', encoding="utf-8")
    result = qunbot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and "c.toml: adapters: " in result.stderr and "fax" in result.stderr
