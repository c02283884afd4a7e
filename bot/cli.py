"""The ``qunbot`` command: run | console | check | replay | db upgrade (a stable contract, DESIGN.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import datetime
from pathlib import Path

from bot import redact, topology
from bot.adapters.base import AdapterStartError
from bot.adapters.registry import build_adapter
from bot.config import QunbotConfig, default_config_path, load_config
from bot.engine import Engine, check_rules_dir, default_rules_dir, keep_what_start_up_built
from bot.store import normalise_url
from bot.templates import Templates


def _config_or_exit(given: str | None) -> QunbotConfig:
    path = default_config_path(given)
    config, errors = load_config(path)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        raise SystemExit(1)
    return config


class StartRefused(Exception):
    """Rule files or templates that do not pass ``qunbot check``: the bot does not start on them."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def problems_in(config: QunbotConfig, rules_dir: Path) -> list[str]:
    """What ``qunbot check`` finds in the rule files and templates, one ``file: key: problem`` line each."""
    lines = [str(e) for e in check_rules_dir(rules_dir)]
    return lines + Templates(Path(config.templates_dir) if config.templates_dir else None).check_all()


async def serve(config: QunbotConfig, rules_dir: Path, only: list[str] | None = None) -> None:
    """Run the adapters until they end (the console at EOF), then deliver what is queued and stop. Refuses
    to start (StartRefused) on a rule file or template that does not pass check: started, the bot would run
    without that plugin, or fail on that sentence, and nobody would be told but the log."""
    if problems := problems_in(config, rules_dir):
        raise StartRefused(problems)
    adapters = [build_adapter(name, config) for name in (only or config.adapters)]
    for adapter in adapters:
        # Adapters that can prove their credentials do it first: a wrong token is one line, not a log.
        if connect := getattr(adapter, "connect", None):
            await connect()
    with topology.hold_sqlite(normalise_url(config.database_url)):
        engine = await Engine.create(config, rules_dir, platforms={a.platform for a in adapters})
        try:
            await _serve_engine(engine, config, adapters)
        finally:
            await engine.close()


async def _serve_engine(engine: Engine, config: QunbotConfig, adapters: list) -> None:
    # A second receiver of an account that gets each update once waits here (a standby) until it is free.
    keys = topology.account_keys(config, [a.platform for a in adapters])
    accounts = await topology.hold_accounts(engine.store, keys, *topology.lease_timing(config)) if engine.store.dialect == "postgresql" else None
    # The adapters are in place (not yet running) before the leases: taking a group over delivers what its
    # earlier owner committed (Engine.on_group_acquired), through them.
    engine.adapters.update({a.platform: a for a in adapters})
    replicas = await topology.start_replicas(engine, config)
    # Every template compiled once now: the good versions a later broken edit falls back on.
    for problem in engine.templates.check_all():
        engine.report(f"template refused: {problem}")
    keep_what_start_up_built()
    # What was committed before a crash and not delivered goes out first in each group (bot.journal). With
    # replicas, each takes its own groups' rows as it acquires them (Engine.on_group_acquired).
    if replicas is None:
        await engine.resume()
    work = [engine.scheduler.run_forever(), engine.watch_rules(), engine.flush_stats_forever()]
    work += [replicas.run_forever()] if replicas else []
    background = [asyncio.create_task(coro) for coro in work]
    for task in background:
        task.add_done_callback(_log_failure)
    served = asyncio.gather(*(adapter.run(engine) for adapter in engine.adapters.values()))
    if accounts is not None:  # losing an account's lease ends serving (TopologyRefused)
        held = asyncio.create_task(topology.keep_accounts(accounts, keys))
        held.add_done_callback(lambda done: done.cancelled() or done.exception() is None or served.cancel())
        background.append(held)
    try:
        async with _console(engine, config):
            await served
            await engine.outbox.drain()
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if accounts is not None:
            await accounts.close()


def _console(engine: Engine, config: QunbotConfig):
    """The web console while the bot runs, where config has a [web] section (imported only then)."""
    if config.web is None:
        return contextlib.nullcontext()
    from bot.web.server import console_served

    return console_served(engine, config.web)


def _log_failure(task: asyncio.Task) -> None:
    # A background task that dies must say so; its absence would otherwise go unnoticed.
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("qunbot").error("background task %s stopped", task.get_name(), exc_info=task.exception())


def cmd_run(args) -> int:
    config = _config_or_exit(args.config)
    level = getattr(logging, args.log_level.upper()) if args.log_level else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every handler of the root logger masks the configured secrets, whatever logger writes at whatever level.
    redactor = redact.install(redact.configured_secrets(config))
    for name in redact.short_secret_names(config):
        logging.getLogger("qunbot").warning("the secret in %s is shorter than %d characters: too short to be kept out of "
                                            "logs (and to be safe); use a longer one", name, redact.MIN_SECRET)
    if level <= logging.DEBUG:
        # The Telegram adapter keeps httpx at WARNING (its INFO lines name every URL, token included) unless
        # asked: here the redactor masks the token, and DEBUG means everything.
        for chatty in ("httpx", "httpcore"):
            logging.getLogger(chatty).setLevel(logging.DEBUG)
    if args.log_level is None:
        _quiet_console_logging(config.adapters)
    try:
        asyncio.run(serve(config, default_rules_dir(args.rules)))
    except AdapterStartError as exc:
        print(f"qunbot: {redactor.redact(str(exc))}", file=sys.stderr)
        return 1
    except StartRefused as exc:
        return _refused(exc)
    except topology.TopologyRefused as exc:
        print(f"qunbot: not started: {exc}", file=sys.stderr)
        return 1
    return 0


def _refused(exc: StartRefused) -> int:
    for line in exc.problems:
        print(line, file=sys.stderr)
    print(f"qunbot: not started: {len(exc.problems)} problem(s) above (the same as `qunbot check` prints)", file=sys.stderr)
    return 1


def cmd_console(args) -> int:
    config = _config_or_exit(args.config)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config, default_rules_dir(args.rules), only=["console"]))
    except StartRefused as exc:
        return _refused(exc)
    except topology.TopologyRefused as exc:
        print(f"qunbot: not started: {exc}", file=sys.stderr)
        return 1
    return 0


def _quiet_console_logging(adapters: list[str]) -> None:
    # The sandbox shares the terminal with the log: keep the log to warnings there.
    if adapters == ["console"]:
        logging.getLogger().setLevel(logging.WARNING)


def cmd_check(args) -> int:
    path = default_config_path(args.config)
    config, problems = load_config(path)
    lines = [str(p) for p in problems] + problems_in(config, default_rules_dir(args.rules))
    for line in lines:
        print(line)
    if not lines:
        print(f"ok: {path or 'embedded default config'}, rules in {default_rules_dir(args.rules)}")
    return 1 if lines else 0


def cmd_replay(args) -> int:
    from bot.replay import replay

    config = _config_or_exit(None)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    until = _parse_time(args.until) if args.until else None
    events = Path(args.events)
    if not events.is_file():
        print(f"{events}: no such file", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else None
    if args.db:
        try:
            normalise_url(args.db)
        except ValueError as exc:
            print(f"--db: {exc}", file=sys.stderr)
            return 1
    rules_dir = default_rules_dir(args.rules)
    # A replay tries rules before they are deployed: one that ran without the plugin whose file is broken
    # would print a plausible, wrong answer. The same refusal as `qunbot run`.
    if problems := problems_in(config, rules_dir):
        return _refused(StartRefused(problems))
    asyncio.run(replay(events, rules_dir, config, args.db, until, out))
    return 0


def _parse_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--until {text!r}: not an ISO 8601 time like 2026-11-24T00:00:00+08:00")
    if at.tzinfo is None:
        raise SystemExit(f"--until {text!r}: needs a UTC offset, like +08:00")
    return at


def cmd_db(args) -> int:
    from bot.store import Store

    config = _config_or_exit(args.config)

    async def upgrade():
        store = Store(config.database_url)
        await store.upgrade()
        await store.close()

    asyncio.run(upgrade())
    print(f"database at the newest schema: {config.database_url}")
    return 0


def _with_insights(args, work) -> object:
    """Run ``work(engine, insights module, the group's insights rules, the group's today)`` against the
    configured database, for the command-line faces of /stats and /export."""
    from datetime import datetime

    config = _config_or_exit(args.config)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    async def run():
        engine = await Engine.create(config, default_rules_dir(args.rules))
        try:
            from plugins import insights

            rules = engine.rules_for(insights.plugin, args.group) or insights.InsightsRules()
            return await work(engine, insights, rules, datetime.now(engine.tz_for(args.group)).date())
        finally:
            await engine.close()

    return asyncio.run(run())


def cmd_report(args) -> int:
    """The /stats chart and the stage assessment for one group, from the configured database."""
    async def report(engine, insights, rules, today) -> str:
        _, series = await insights.chart(engine.services, args.group, args.days or rules.chart_days, today, Path(args.out))
        verdict = await insights.assess(engine.services, args.group, rules, today)
        return engine.templates.render("insights/report", group=args.group, series=series, a=verdict, out=args.out)

    print(_with_insights(args, report))
    return 0


def cmd_export(args) -> int:
    """/export members from the command line: one group's member roster as CSV."""
    async def export(engine, insights, rules, today) -> int:
        return await insights.export_members(engine.services, args.group, rules, today, Path(args.out))

    print(f"{args.group}: {_with_insights(args, export)} members written to {args.out}")
    return 0


def cmd_bans(args) -> int:
    """Exchange ban lists: export a group's standing bans (with those of the groups it shares with) as CSV,
    or import such a file into a group (its entries become that group's, shared as its rules say)."""
    from plugins import bans

    config = _config_or_exit(args.config)
    platform = args.group.partition(":")[0]

    async def run() -> str:
        engine = await Engine.create(config, default_rules_dir(args.rules))
        try:
            rules = engine.rules_for(bans.plugin, args.group) or bans.BansRules()
            if args.bans_command == "export":
                groups = bans.shared_with(engine.services.group_sets(), rules.share, args.group)
                _path, count = await bans.export_bans(engine.services, groups, Path(args.out))
                return f"{args.group}: {count} bans written to {args.out}"
            rows = bans.read_ban_csv(Path(args.file), engine.templates.render("bans/csv_header").split(","))
            other = sorted({r["platform"] for r in rows} - {platform})
            if other:
                raise bans.BanListError(f"{args.file}: entries of {', '.join(other)}: member ids are per platform, "
                                        f"so they cannot be banned in a {platform} group (nothing imported)")
            added = await engine.store.run(bans.import_rows, rows, args.group, args.by)
            return f"{args.group}: {added} of {len(rows)} bans imported ({len(rows) - added} were there already)"
        finally:
            await engine.close()

    try:
        print(asyncio.run(run()))
    except bans.BanListError as exc:
        print(f"qunbot: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qunbot", description="Qunbot: the community operator's group bot (社群运营机器人).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_help = "deployment config (default: ./config.toml if present, else the embedded default: SQLite, console sandbox)"
    rules_help = "rule files folder (default: ./rules if present, else the shipped rules/)"

    p = sub.add_parser("run", help="serve the adapters named in config", description="Serve the adapters named in config (default: the console sandbox), with the scheduler and rule reloading.")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.add_argument("--log-level", metavar="LEVEL", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                   help="DEBUG, INFO (default; WARNING when only the console sandbox runs), WARNING, ERROR or CRITICAL; "
                        "configured secrets are masked as *** at every level")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("console", help="the sandbox group in the terminal", description="Open the sandbox group in the terminal. Type as a member; ':help' lists the sandbox commands. Standard input may be piped; it ends at EOF.")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.set_defaults(fn=cmd_console)

    p = sub.add_parser("check", help="validate config, rule files and templates", description="Validate config, every rule file and every template. Prints `file: key.path: problem` per error and exits 1 on any.")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("replay", help="run an event log through the bus offline", description="Run a JSONL event log through the whole bus on a virtual clock, against a fresh database unless --db names one, and write one JSON line per action.")
    p.add_argument("events", metavar="EVENTS.jsonl", help="one event per line (see README: Replay)")
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.add_argument("--db", metavar="URL", help="database URL to use instead of a fresh temporary SQLite file")
    p.add_argument("--until", metavar="TIME", help="after the last event, fire scheduled jobs up to this ISO 8601 time")
    p.add_argument("--out", metavar="FILE", help="write actions here instead of standard output")
    p.set_defaults(fn=cmd_replay)

    p = sub.add_parser("report", help="a group's activity chart and stage", description="Draw a group's activity chart (PNG) from the configured database and print its figures and lifecycle stage.")
    p.add_argument("--group", required=True, metavar="PLATFORM:ID", help='the group, like "qq:123456"')
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the PNG chart")
    p.add_argument("--days", type=int, metavar="N", help="how many days the chart shows (default: rules/insights.toml chart_days)")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.set_defaults(fn=cmd_report)

    p = sub.add_parser("export", help="a group's member roster as CSV", description="Write one group's members (layer, recent messages, points, check-ins, join day, introduction tags) from the configured database as CSV, as /export members does.")
    p.add_argument("--group", required=True, metavar="PLATFORM:ID", help='the group, like "qq:123456"')
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the CSV")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--rules", metavar="DIR", help=rules_help)
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("bans", help="export or import a ban list (CSV)", description="Exchange ban lists between operators: export a group's standing bans (and those of the groups it shares bans with, rules/bans.toml) as CSV, or import such a file into a group.")
    bans_sub = p.add_subparsers(dest="bans_command", required=True, metavar="ACTION")
    out = bans_sub.add_parser("export", help="write a group's ban list as CSV", description="Write the standing bans a group honours as CSV (the /黑名单 导出 columns).")
    out.add_argument("--group", required=True, metavar="PLATFORM:ID", help='the group, like "qq:123456"')
    out.add_argument("--out", required=True, metavar="FILE", help="where to write the CSV")
    into = bans_sub.add_parser("import", help="ban the members of a CSV list in a group", description="Ban every member of a ban list CSV (as exported) in a group; entries there already are kept. A broken row names its line and nothing is imported.")
    into.add_argument("file", metavar="FILE", help="the CSV to import")
    into.add_argument("--group", required=True, metavar="PLATFORM:ID", help='the group the bans are made in, like "qq:123456"')
    into.add_argument("--by", default="operator", help="who the import is recorded as (default: operator)")
    for q in (out, into):
        q.add_argument("--config", metavar="FILE", help=config_help)
        q.add_argument("--rules", metavar="DIR", help=rules_help)
        q.set_defaults(fn=cmd_bans)

    p = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="migrate the configured database to the newest schema", description="Migrate the configured database to the newest schema (Alembic).")
    up.add_argument("--config", metavar="FILE", help=config_help)
    up.set_defaults(fn=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
