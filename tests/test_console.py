"""The console sandbox, driven through piped standard input as a script would."""

import subprocess
import sys

from tests.conftest import ROOT


def console(script: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    # Run in an empty folder: the embedded default creates qunbot.db there and finds the shipped rules.
    return subprocess.run([sys.executable, "-m", "bot.cli", "console", *args], input=script, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, env={"PATH": "", "PYTHONPATH": str(ROOT)})


def test_piped_checkin_gets_a_reply(tmp_path):
    result = console("签到\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "沙盒群" in result.stdout and "🤖 @小王 签到成功！你是今天第 1 个签到的" in result.stdout
    assert (tmp_path / "qunbot.db").exists()


def test_switching_people_roles_and_membership(tmp_path):
    script = "签到\n签到\n/set checkin base_points 5\n:as 老板 admin\n/set checkin base_points 5\n:as 小李\n签到\n:join 新人\n:leave 新人\n:bogus\n:as 小李 king\n"
    out = console(script, tmp_path).stdout
    assert out.count("签到成功") == 2 and "已经签过到" in out
    assert "只有管理员可以使用" in out and "已把本群的 checkin.base_points 设为 5" in out
    assert "获得 5 积分" in out  # 小李 checked in after the admin's change
    assert ":join 名字" in out  # :bogus shows the sandbox help
    assert "不能是「king」" in out


def test_state_is_kept_between_sessions(tmp_path):
    console("签到\n", tmp_path)
    assert "已经签过到" in console("签到\n", tmp_path).stdout


def test_run_on_the_example_config_opens_the_sandbox(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(ROOT / "config.example.toml")],
                            input="签到\n", capture_output=True, text=True, cwd=tmp_path, timeout=60,
                            env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "签到成功" in result.stdout
