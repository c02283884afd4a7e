"""``/后台``: an admin or owner gets a one-time link to the web console for this group (bot admins named
in config: for every group). The link works once and for ``[web] link_minutes`` of config; the console
itself is bot/web/."""

from __future__ import annotations

from bot.bus import Context, Plugin
from bot.rules import PluginRules
from bot.web.auth import ALL_GROUPS, create_link


class WebLoginRules(PluginRules):
    pass


plugin = Plugin("web_login", WebLoginRules, priority=500)


@plugin.command("后台", "console", "web", role="admin")
async def give_link(ctx: Context):
    web = ctx.services.web
    if web is None:
        return ctx.reply("web_login/off", "console_off")
    ev = ctx.event
    who = f"{ev.platform}:{ev.user}"
    group = ALL_GROUPS if who in ctx.services.bot_admins else ctx.group
    token = await ctx.store.run(create_link, who, ev.user_name, group, ctx.role, ctx.now, web.link_minutes)
    return ctx.reply("web_login/link", "console_link", url=f"{web.base_url()}/login/{token}",
                     minutes=web.link_minutes, everywhere=group == ALL_GROUPS)
