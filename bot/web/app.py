"""The console's pages (Starlette, server-rendered Jinja2 from templates/web/, no script and nothing fetched
from the internet). Reading needs a session; every POST that changes something also needs the session's
CSRF token and an Origin (where the browser sends one) of this site."""

from __future__ import annotations

import asyncio
import os
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.commands import permits
from bot.web import data
from bot.web.acting import run_as
from bot.web.auth import Session, end_session, find_session, link_usable, new_session, operator_secret_ok, use_link
from bot.web.config import WebConfig
from bot.web.many import many_groups_panels
from bot.web.svg import activity_svg

COOKIE = "qunbot_console"
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates" / "web"
LEVELS = {"member": "成员", "admin": "管理员", "owner": "群主", "file": "仅规则文件"}
SOURCES = {"default": "默认值", "file": "规则文件", "set": "群组集合", "group": "规则文件（本群）", "owner": "群内设置（/set）"}
LAYERS = {"core": "核心成员", "active": "活跃成员", "quiet": "偶尔发言", "dormant": "潜水成员"}
CASES = {"request": "入群申请待审核", "quiz": "答题中", "review": "入群后待审核", "intro": "待自我介绍"}
# What a form's "do" runs, as the chat command; {fields} come from the form, checked to be single words.
COMMANDS = {"approve": "/approve {user}", "decline": "/decline {user}", "notad": "/notad", "set": "/set {plugin} {key} {value}",
            "unset": "/unset {plugin} {key}", "unban": "/解除拉黑 {user}", "broadcast": "/群发 {value}",
            "broadcast_confirm": "/群发 确认", "broadcast_cancel": "/群发 取消", "relay_start": "/转播 开始 {value}",
            "relay_stop": "/转播 结束"}


class Console:
    def __init__(self, engine, config: WebConfig, environ: dict[str, str] | None = None):
        self.engine, self.config = engine, config
        self.environ = os.environ if environ is None else environ
        overrides = [FileSystemLoader(Path(engine.config.templates_dir) / "web")] if engine.config.templates_dir else []
        self.jinja = Environment(loader=ChoiceLoader([*overrides, FileSystemLoader(TEMPLATES)]),
                                 autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
        self.jinja.globals.update(levels=LEVELS, sources=SOURCES, layer_names=LAYERS, case_names=CASES,
                                  stage_names=data.STAGES, platforms=data.PLATFORMS, quote=quote)

    # ------------------------------------------------------------------ plumbing

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(self.jinja.get_template(name).render(**values), status_code=status)

    def refuse(self, status: int, message: str, session: Session | None = None) -> HTMLResponse:
        return self.page("message.html", status, session=session, title="无法打开", message=message)

    async def session(self, request: Request) -> Session | None:
        return await self.engine.store.run(find_session, request.cookies.get(COOKIE), self.engine.clock.now())

    def logged_in(self, token: str, to: str = "/") -> RedirectResponse:
        response = RedirectResponse(to, status_code=303)
        response.set_cookie(COOKIE, token, max_age=self.config.session_minutes * 60, httponly=True, samesite="strict",
                            secure=self.config.secure_cookies, path="/")
        return response

    def groups_of(self, session: Session) -> list[str]:
        known = sorted(self.engine.known_groups)
        return known if session.operator else [g for g in known if session.sees(g)]

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A POST from a page of another site carries its Origin (or Referer): refused whatever else it has."""
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin or origin == "null":
            return origin is None
        return urlsplit(origin).netloc == request.headers.get("host")

    # ------------------------------------------------------------------ logging in

    async def login_form(self, request: Request) -> Response:
        return self.page("login.html", session=await self.session(request), secret_set=bool(self.secret()))

    def secret(self) -> str | None:
        return self.environ.get(self.config.operator_secret_env) or None

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not self.same_origin(request) or not operator_secret_ok(str(form.get("secret", "")), self.secret()):
            return self.page("login.html", 403, session=None, secret_set=bool(self.secret()), wrong=True)
        token, _ = await self.engine.store.run(new_session, "operator", "运维", {"*": "owner"}, self.engine.clock.now(),
                                               self.config.session_minutes)
        return self.logged_in(token)

    async def link_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        if not await self.engine.store.run(link_usable, token, self.engine.clock.now()):
            return self.refuse(403, "这个登录链接已失效（过期或已用过）。请在群里重新发送 /后台 领取。")
        return self.page("link.html", session=None, token=token)

    async def use_link(self, request: Request) -> Response:
        if not self.same_origin(request):  # another site posting someone's link: refused, and the link stays good
            return self.refuse(403, "请从后台自己的页面登录。")
        now, current = self.engine.clock.now(), await self.session(request)
        used = await self.engine.store.run(use_link, request.path_params["token"], now, current, self.config.session_minutes)
        if used is None:
            return self.refuse(403, "这个登录链接已失效（过期或已用过）。请在群里重新发送 /后台 领取。")
        token, session = used
        groups = [g for g in session.groups if g != "*"]
        return self.logged_in(token, f"/group?g={quote(groups[-1])}" if len(groups) == 1 else "/")

    async def logout(self, request: Request) -> Response:
        session = await self.session(request)
        form = await request.form()
        if session is None or not session.csrf_ok(form.get("csrf")) or not self.same_origin(request):
            return self.refuse(403, "请求无效。", session)
        await self.engine.store.run(end_session, request.cookies.get(COOKIE), self.engine.clock.now())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ pages

    async def overview(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        platform, chosen = request.query_params.get("platform", ""), request.query_params.get("set", "")
        groups = self.groups_of(session)
        sets = self.engine.group_sets.sets
        shown = [g for g in groups if (not platform or g.startswith(f"{platform}:")) and (not chosen or g in sets.get(chosen, ()))]
        rows = [await data.overview_row(self.engine, g) for g in shown]
        sort, desc = request.query_params.get("sort", ""), request.query_params.get("desc", "") == "1"
        return self.page("overview.html", session=session, rows=data.sort_rows(rows, sort, desc), sort=sort, desc=desc,
                         platform=platform, chosen=chosen, set_names=list(sets),
                         platforms_here=sorted({g.partition(":")[0] for g in groups}))

    async def group_page(self, request: Request, outcome=None, action: str = "", acted_plugin: str = "") -> Response:
        session = await self.session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        group = request.query_params.get("g", "")
        if group not in self.engine.known_groups or not session.sees(group):
            return self.refuse(403, "你没有这个群的后台权限（或机器人不认识这个群）。", session)
        return self.page("group.html", 400 if outcome and not outcome.ok else 200, **await self.group_view(session, group, request),
                         outcome=outcome, action=action, acted_plugin=acted_plugin)

    async def group_view(self, session: Session, group: str, request: Request) -> dict[str, Any]:
        engine = self.engine
        row = await data.overview_row(engine, group)
        series, counted, born = await data.stats_series(engine, group)
        rules = data.insights_rules(engine, group)
        title = engine.templates.render("insights/chart_title", days=rules.chart_days, today=data.today_in(engine, group))
        svg = await asyncio.to_thread(activity_svg, series, title, born)
        query = request.query_params.get("q", "")
        labels, _ = data.intro_labels(engine, group)
        return {"session": session, "group": group, "role": session.role_in(group), "row": row, "svg": svg,
                "stage_text": engine.templates.render("insights/stage", a=row["assessment"]),
                "stats_text": engine.templates.render("insights/stats", series=counted, days=len(counted)),
                "layers": await data.layers(engine, group), "window": rules.layer_window_days,
                "roster": await data.roster(engine, group), "labels": labels, "query": query,
                "found": await data.who(engine, group, query), "pending": await data.pending(engine, group),
                "modlog": await data.moderation_log(engine, group), "settings": data.settings(engine, group),
                "may_export": permits(session.role_in(group), "owner"), "permits": permits}

    async def act(self, request: Request) -> Response:
        session = await self.session(request)
        form = await request.form()
        if session is None or not session.csrf_ok(form.get("csrf")) or not self.same_origin(request):
            return self.refuse(403, "请求无效：表单已过期或不是从本后台页面提交的，什么也没有改动。", session)
        group, do = str(form.get("g", "")), str(form.get("do", ""))
        if group not in self.engine.known_groups or not session.sees(group):
            return self.refuse(403, "你没有这个群的后台权限，什么也没有改动。", session)
        command = self.command_of(do, form)
        if command is None:
            outcome = Said(["参数不完整或含有空格，什么也没有改动。"], False)
        else:
            done = await run_as(self.engine, session, group, command, reply_to=str(form.get("message", "")) or None,
                                origin=request.client.host if request.client else "")
            outcome = Said(done.said, not done.refused and done.delivered is not False, done.delivered, done.acted)
        request.scope["query_string"] = f"g={quote(group)}".encode()
        return await self.group_page(request, outcome, do, str(form.get("plugin", "")))

    @staticmethod
    def command_of(do: str, form) -> str | None:
        pattern = COMMANDS.get(do)
        if pattern is None:
            return None
        fields = {name: str(form.get(name, "")).strip() for name in ("user", "plugin", "key")}
        if any(not v or any(c.isspace() for c in v) for k, v in fields.items() if "{" + k + "}" in pattern):
            return None
        value = " ".join(str(form.get("value", "")).split())
        if "{value}" in pattern and not value:
            return None
        if do == "notad" and not str(form.get("message", "")).strip():
            return None
        return pattern.format(**fields, value=value)

    async def export(self, request: Request) -> Response:
        """The roster as /导出 成员 writes it (owners only, as in the chat)."""
        session = await self.session(request)
        group = request.query_params.get("g", "")
        if session is None or group not in self.engine.known_groups or not session.sees(group):
            return self.refuse(403, "你没有这个群的后台权限。", session)
        done = await run_as(self.engine, session, group, "/export members")
        path = done.file
        if not path:
            return self.refuse(403, "\n".join(done.said) or "导出失败。", session)
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename=Path(path).name)

    @staticmethod
    async def font(_request: Request) -> Response:
        """The CJK font the charts use (mplfonts ships it), for browsers on systems without a Chinese font."""
        return FileResponse(str(files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"), media_type="font/otf",
                            headers={"Cache-Control": "public, max-age=604800"})

    async def many(self, request: Request) -> Response:
        session = await self.session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        mine = set(self.groups_of(session))
        sets = [{"name": name, "groups": [g for g in groups if g in mine], "hidden": sum(g not in mine for g in groups)}
                for name, groups in self.engine.group_sets.sets.items() if mine & set(groups) or session.operator]
        query = request.query_params.get("q", "").strip()
        panels = [await panel(self.engine, session, query) for panel in many_groups_panels]
        return self.page("many.html", session=session, sets=sets, panels=[p for p in panels if p])


class Said:
    """What a page says after an action: the command's answers, and whether its platform actions went out."""

    def __init__(self, lines: list[str], ok: bool, delivered: bool | None = None, acted: int = 0):
        self.lines, self.ok, self.delivered, self.acted = lines, ok, delivered, acted


def build_app(engine, config: WebConfig, environ: dict[str, str] | None = None) -> Starlette:
    console = Console(engine, config, environ)
    return Starlette(routes=[
        Route("/", console.overview),
        Route("/login", console.login_form, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/login/{token}", console.link_page, methods=["GET"]),
        Route("/login/{token}", console.use_link, methods=["POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/group", console.group_page, methods=["GET"]),
        Route("/act", console.act, methods=["POST"]),
        Route("/export", console.export, methods=["GET"]),
        Route("/many", console.many, methods=["GET"]),
        Route("/font/cjk.otf", console.font, methods=["GET"]),
    ])
