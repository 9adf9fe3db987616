"""Product (SaaS trial) accounts and usage events: sign-up, logins, feature used.

Some trials are recent and went quiet (no login for 3+ days) so "trial
inactive" audiences have members. Names come as one `full_name` field.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import mess, vocab
from sample_data.context import DAY_S, Context, arr, ids

SOURCE_NO = 5


def build(ctx: Context) -> None:
    rng, pop = ctx.rng, ctx.pop
    weights = np.where(np.not_equal(pop.company, None), 4.0, 0.3)
    base = ctx.sample(0.1, weights)
    idx, dup = ctx.with_duplicates(base)
    n = len(idx)
    first, last = ctx.fuzzy_names(idx, dup, typo_share=0.02, nick_share=0.1)
    email = pop.primary_email[idx].copy()
    email = mess.email_variants(rng, email, 0.15)
    email[dup] = ctx.dup_email(idx[dup], SOURCE_NO)
    recent = rng.random(n) < 0.35
    signed_up = np.where(recent, ctx.ago(n, 14, 0.5), ctx.ago(n, 600, 15))
    plan = np.where(
        recent, "trial", np.array(vocab.PLANS, dtype=object)[rng.integers(0, len(vocab.PLANS), n)]
    ).astype(object)
    user_ids = ids("usr_", n)
    ctx.add(
        "product_users",
        "user_id",
        {
            "user_id": arr(user_ids, pa.string()),
            "email": arr(email, pa.string()),
            "full_name": arr(first + " " + last, pa.string()),
            "company": arr(np.where(dup, None, pop.company[idx]), pa.string()),
            "plan": arr(plan, pa.string()),
            "signed_up_at": arr(signed_up, pa.timestamp("s")),
            "trial_ends_at": arr(
                np.where(
                    plan == "trial",
                    signed_up + np.timedelta64(14 * DAY_S, "s"),
                    np.datetime64("NaT"),
                ),
                pa.timestamp("s"),
            ),
        },
        idx,
        dup,
    )

    # Usage: logins and features until the user goes quiet.
    quiet_days = np.where(rng.random(n) < 0.4, rng.uniform(3.2, 10, n), rng.uniform(0, 2.5, n))
    active_end = np.maximum(ctx.as_of - (quiet_days * DAY_S).astype("timedelta64[s]"), signed_up)
    per = np.where(dup, 1 + rng.poisson(2, n), 1 + rng.poisson(3 + 25 * pop.activity[idx]))
    u = np.repeat(np.arange(n), per)
    m = len(u)
    span = (active_end[u] - signed_up[u]).astype(np.int64)
    t = signed_up[u] + (rng.uniform(0, 1, m) * span).astype("timedelta64[s]")
    # the last event of each user lands exactly at active_end
    last_of = np.r_[u[1:] != u[:-1], True]
    t[last_of] = active_end[u[last_of]]
    kind = np.where(rng.random(m) < 0.55, "logged_in", "feature_used").astype(object)
    feature = np.where(
        kind == "feature_used",
        np.array(vocab.FEATURES, dtype=object)[rng.integers(0, len(vocab.FEATURES), m)],
        None,
    )
    signup_ev = np.arange(n)
    all_user = np.concatenate([signup_ev, u])
    all_t = np.concatenate([signed_up, t])
    all_kind = np.concatenate([np.full(n, "signed_up", dtype=object), kind])
    all_feat = np.concatenate([np.full(n, None, dtype=object), feature])
    order = np.lexsort((all_t, all_user))
    k = len(order)
    ctx.add(
        "product_events",
        "event_id",
        {
            "event_id": arr(ids("pe_", k, width=9), pa.string()),
            "user_id": arr(mess.blank(rng, user_ids[all_user[order]], 0.002), pa.string()),
            "event_name": arr(all_kind[order], pa.string()),
            "feature_name": arr(all_feat[order], pa.string()),
            "occurred_at": arr(all_t[order], pa.timestamp("s")),
        },
        idx[all_user[order]],
        dup[all_user[order]],
    )
