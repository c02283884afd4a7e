"""Catch-up after downtime: a scheduled slot fired late (a restart, a stalled loop) is worth sending only
within a grace period; later than that, a morning post or a birthday prompt at tea time does more harm
than good, so it is skipped and the operators are told."""

from __future__ import annotations

from datetime import timedelta


def too_late(ctx, what: str, grace_minutes: int):
    """None when the slot of ``ctx.event`` (a ScheduleFired) is at most ``grace_minutes`` old; else the
    report that says it is skipped (for the handler to return)."""
    late = ctx.now - ctx.event.slot
    if late <= timedelta(minutes=grace_minutes):
        return None
    return ctx.report(f"{ctx.group}: {what} due at {ctx.event.slot.isoformat()} skipped: "
                      f"{int(late.total_seconds() // 60)} minutes late (grace {grace_minutes})", "late_slot")
