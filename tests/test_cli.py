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


def test_processes_starting_together_on_one_sqlite_file_migrate_once(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "race.sqlite"}"\n', encoding="utf-8")
    cmd = [sys.executable, "-m", "bot.cli", "db", "upgrade", "--config", str(config)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env={"PATH": "", "PYTHONPATH": str(ROOT)}) for _ in range(4)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results


def test_unsupported_database_and_unreadable_config_are_named(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('database_url = "mysql://root@localhost/q"\n', encoding="utf-8")
    result = qunbot("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and "c.toml: database_url: " in result.stdout and "mysql" in result.stdout
    config.write_bytes(b'timezone = "\xff"\n')
    result = qunbot("check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and "c.toml: (file): not UTF-8 text" in result.stdout
    bad_db = qunbot("replay", str(config), "--db", "nonsense", cwd=tmp_path)
    assert bad_db.returncode == 1 and "--db: not a database URL" in bad_db.stderr and "Traceback" not in bad_db.stderr
