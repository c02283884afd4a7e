#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the whole suite (extra arguments go to pytest).
# PostgreSQL tests use QUNBOT_TEST_PG_URL; when it is unset and a local server answers, a fresh
# database is created for this run and dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The web console's tests drive Debian's chromium (Playwright with its executable path); skipped without it.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q chromium chromium-driver >/dev/null || echo "chromium not installed: the web console tests will be skipped" >&2
fi
# The Telegram tests' peer: telegram-test-api (pinned in tests/telegram_peer/package-lock.json).
(cd tests/telegram_peer && npm ci --no-audit --no-fund --loglevel=error)
# The WeChat tests' peer: wechaty-puppet-service + wechaty-puppet-mock (pinned in tests/wechat_peer/package-lock.json).
(cd tests/wechat_peer && npm ci --no-audit --no-fund --loglevel=error)

if [ -z "${QUNBOT_TEST_PG_URL:-}" ] && command -v psql >/dev/null \
   && psql -h 127.0.0.1 -U postgres -d postgres -qtAc 'select 1' >/dev/null 2>&1; then
  db="qunbot_test_$(date +%s)_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db"
  trap 'psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  export QUNBOT_TEST_PG_URL="postgresql://postgres@127.0.0.1:5432/$db"
fi

.venv/bin/python -m pytest -rs "$@"
