"""Engagement rates for the demo summary, read from the raw engagement tables.

Why raw and not the reporting models: the summary must print something
meaningful even while the reporting models are being built or renamed; it
counts distinct messages per event type, as the vendors' own dashboards do.
"""

from __future__ import annotations

from typing import Any


def _pct(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else str(part)


def engagement_rates(conn: Any) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    try:
        email = conn.execute(
            """
            select
                count(distinct case when event in ('processed', 'delivered', 'bounce', 'dropped', 'deferred')
                      then sg_message_id end) as sent,
                count(distinct case when event = 'delivered' then sg_message_id end) as delivered,
                count(distinct case when event = 'open' then sg_message_id end) as opened,
                count(distinct case when event = 'click' then sg_message_id end) as clicked,
                count(distinct case when event in ('bounce', 'dropped') then sg_message_id end) as bounced,
                count(distinct case when event in ('unsubscribe', 'group_unsubscribe') then sg_message_id end)
                    as unsubscribed
            from raw.sendgrid_events
            """
        ).fetchone()
        sent, delivered, opened, clicked, bounced, unsubscribed = (int(v or 0) for v in email)
        if sent or delivered:
            base = delivered or sent
            rows.append({
                "channel": "email", "sent": str(sent), "delivered": _pct(delivered, sent),
                "opened": _pct(opened, base), "clicked": _pct(clicked, base),
                "bounced": _pct(bounced, sent), "unsubscribed": _pct(unsubscribed, base),
            })
    except Exception:
        pass
    try:
        sms = conn.execute(
            """
            select count(distinct message_sid),
                   count(distinct case when message_status = 'delivered' then message_sid end),
                   count(distinct case when message_status in ('failed', 'undelivered') then message_sid end)
            from raw.twilio_message_status
            """
        ).fetchone()
        sent, delivered, failed = (int(v or 0) for v in sms)
        opt_outs = int(conn.execute("select count(*) from raw.twilio_opt_outs where opted_out").fetchone()[0])
        if sent:
            rows.append({
                "channel": "sms", "sent": str(sent), "delivered": _pct(delivered, sent), "opened": "-",
                "clicked": "-", "bounced": _pct(failed, sent), "unsubscribed": _pct(opt_outs, sent),
            })
    except Exception:
        pass
    return rows
