"""Consent and subscription changes per channel (email, sms, ads) and erasure
(GDPR right-to-be-forgotten) requests, from the preference centre, the shop,
SMS keywords and the support desk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import mess
from sample_data.context import Context, arr, ids, iso_with_offset, with_missing_keys

CHANNELS = np.array(["email", "sms", "ads"], dtype=object)


def build(ctx: Context) -> None:
    rng, pop = ctx.rng, ctx.pop
    listed = np.concatenate(
        [ctx.members.get(s, np.zeros(0, np.int64)) for s in ("shop", "forms", "support", "product")]
    )
    listed = np.unique(listed)
    people = listed[rng.random(len(listed)) < 0.55]
    per = rng.integers(1, 4, len(people))
    idx = np.repeat(people, per)
    n = len(idx)
    channel = CHANNELS[rng.choice(3, n, p=[0.6, 0.25, 0.15])]
    # an address or number the person gave one of the systems; SMS consent only
    # from people who gave their mobile somewhere (else it is about e-mail)
    given_phone, gave_phone = ctx.given_value(
        "phone", idx, mess.format_phones(rng, pop.mobile[idx], 0.5)
    )
    channel = np.where((channel == "sms") & ~gave_phone, "email", channel).astype(object)
    opt_in = rng.random(n) < 0.7
    action = np.where(opt_in, "subscribed", "unsubscribed").astype(object)
    sms = channel == "sms"
    action = np.where(sms & ~opt_in & (rng.random(n) < 0.5), "stop_reply", action)
    in_shop = np.isin(idx, ctx.members.get("shop", np.zeros(0, np.int64)))
    address = np.where(in_shop, pop.email[idx], pop.primary_email[idx])
    given_email, _ = ctx.given_value("email", idx, mess.email_variants(rng, address, 0.15))
    email = np.where(~sms, given_email, None)
    phone = np.where(sms, given_phone, None)
    source = np.where(
        sms,
        "sms_keyword",
        np.array(
            ["preference_center", "shop_checkout", "newsletter_footer", "support"], dtype=object
        )[rng.integers(0, 4, n)],
    )
    changed = ctx.ago(n, 700, 0.05)
    keys = with_missing_keys(rng, ids("CC-", n, width=8), 0.003)
    ctx.add(
        "consent_changes",
        "change_id",
        {
            "change_id": arr(keys, pa.string()),
            "email": arr(email, pa.string()),
            "phone": arr(phone, pa.string()),
            "channel": arr(channel, pa.string()),
            "action": arr(action, pa.string()),
            "source_system": arr(source, pa.string()),
            "changed_at": arr(
                iso_with_offset(changed, rng.choice(np.array([0, 1]), n)), pa.string()
            ),
        },
        idx,
    )

    erase = ctx.sample(0.004)
    if len(erase) < 2:  # small samples still get a couple of requests to exercise erasure
        erase = np.unique(ctx.rng.integers(0, ctx.pop.n, 2))
    m = len(erase)
    requested = ctx.ago(m, 200, 0.5)
    ctx.add(
        "consent_erasure_requests",
        "request_id",
        {
            "request_id": arr(ids("ER-", m, width=6), pa.string()),
            "email": arr(mess.email_variants(rng, pop.email[erase], 0.3), pa.string()),
            "phone": arr(
                np.where(
                    rng.random(m) < 0.3, mess.format_phones(rng, pop.mobile[erase], 0.5), None
                ),
                pa.string(),
            ),
            "requested_at": arr(requested, pa.timestamp("s")),
            "status": arr(
                np.where(rng.random(m) < 0.7, "completed", "received").astype(object), pa.string()
            ),
        },
        erase,
    )
