"""Web tracking events (a Segment/Snowplow-style export): anonymous ids per
device, identified on login (user id = shop customer id) or form submit (email).

Page views with product category, cart adds, checkouts, UTM first touch,
referrer, device. Timestamps are epoch milliseconds. Some devices are never
identified; a few events carry junk anonymous ids ('null', 'undefined').
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import mess, vocab
from sample_data.context import Context, arr, ids, with_missing_keys

_CATS = np.array(list(vocab.CATEGORIES), dtype=object)
_TYPES = np.array(
    ["page_view", "product_view", "cart_add", "checkout_started", "search"], dtype=object
)
_TYPE_P = np.array([0.66, 0.18, 0.08, 0.03, 0.05])


def _anonymous_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    hi = rng.integers(0, 2**63, n)
    lo = rng.integers(0, 2**63, n)
    return (
        np.array([f"{a:016x}{b:016x}" for a, b in zip(hi, lo, strict=True)], dtype=object)
        .astype(str)
        .astype(object)
    )


def _uuid_fmt(h: np.ndarray) -> np.ndarray:
    return np.array(
        [f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}" for x in h], dtype=object
    )


def build(ctx: Context, shop_key: np.ndarray) -> None:
    rng, pop = ctx.rng, ctx.pop
    people = ctx.sample(0.7, pop.activity + 0.3)
    none = np.zeros(0, np.int64)
    elsewhere = np.isin(
        people,
        np.concatenate(
            [ctx.members.get(s, none) for s in ("crm", "shop", "support", "forms", "product")]
        ),
    )
    b2b_tools = np.isin(
        np.arange(pop.n), np.concatenate([ctx.members.get(s, none) for s in ("crm", "product")])
    )
    # A second device only matters for people we can identify; an anonymous-only
    # visitor's other device is indistinguishable from another visitor.
    two = elsewhere & (rng.random(len(people)) < 0.25)
    dev_person = np.concatenate([people, people[two]])
    second = np.concatenate([np.zeros(len(people), bool), np.ones(two.sum(), bool)])
    ndev = len(dev_person)
    dev_anon = _uuid_fmt(_anonymous_ids(rng, ndev))
    dev_kind = np.array(vocab.DEVICES, dtype=object)[rng.integers(0, len(vocab.DEVICES), ndev)]
    known = shop_key[dev_person] >= 0
    web_only = ~np.concatenate([elsewhere, elsewhere[two]])
    # people we know log in or submit a form on nearly every device they use; a
    # few devices (1% of second devices, 0.5% of first ones) are never identified
    p_ident = np.where(second, 0.99, 0.995)
    identified = rng.random(ndev) < np.where(web_only, 0.0, p_ident)
    dev_start = ctx.ago(ndev, 420, 0.5)

    # Regular events.
    counts = 1 + rng.poisson(2 + 22 * pop.activity[dev_person])
    ev_dev = np.repeat(np.arange(ndev), counts)
    n = len(ev_dev)
    span = (ctx.as_of - dev_start[ev_dev]).astype(np.int64)
    t = dev_start[ev_dev] + (rng.uniform(0, 1, n) * span).astype("timedelta64[s]")
    etype = _TYPES[rng.choice(len(_TYPES), n, p=_TYPE_P)]

    # Fresh cart adds (last 24 hours) for ~6% of devices: abandoned-cart audiences.
    fresh_dev = np.flatnonzero(rng.random(ndev) < 0.06)
    ev_dev = np.concatenate([ev_dev, fresh_dev])
    t = np.concatenate([t, ctx.ago(len(fresh_dev), 0.9, 0.02)])
    etype = np.concatenate([etype, np.full(len(fresh_dev), "cart_add", dtype=object)])

    # Identify events: a login (shop customers) or a form submit (email), once per device.
    id_dev = np.flatnonzero(identified)
    id_span = (ctx.as_of - dev_start[id_dev]).astype(np.int64)
    id_t = dev_start[id_dev] + (rng.uniform(0, 0.8, len(id_dev)) * id_span).astype("timedelta64[s]")
    id_type = np.where(known[id_dev], "login", "form_submit").astype(object)
    # Shop customers also fill a form (trial sign-up, demo, newsletter) on an identified
    # device: B2B people (CRM, product) usually do, others now and then.
    extra_p = np.where(b2b_tools[dev_person[id_dev]], 0.8, 0.2)
    extra = id_dev[known[id_dev] & (rng.random(len(id_dev)) < extra_p)]
    extra_t = id_t[np.isin(id_dev, extra)] + np.timedelta64(60, "s")
    ev_dev = np.concatenate([ev_dev, id_dev, extra])
    t = np.concatenate([t, id_t, extra_t])
    etype = np.concatenate([etype, id_type, np.full(len(extra), "form_submit", dtype=object)])

    order = np.lexsort((t, ev_dev))
    ev_dev, t, etype = ev_dev[order], t[order], etype[order]
    n = len(ev_dev)
    person = dev_person[ev_dev]
    first_of_dev = np.r_[True, ev_dev[1:] != ev_dev[:-1]]

    ident_time = np.full(ndev, np.datetime64("2262-01-01T00:00:00", "s"))
    ident_time[id_dev] = id_t
    after_ident = t >= ident_time[ev_dev]
    user_id = np.where(after_ident & known[ev_dev], shop_key[person], -1)
    is_form = etype == "form_submit"
    given = np.where(b2b_tools[person], pop.primary_email[person], pop.email[person])
    email = np.where(is_form, mess.email_variants(rng, given, 0.2), None)
    email = np.where(is_form, mess.invalid_emails(rng, email, 0.01), None)

    cat = np.where(rng.random(n) < 0.6, pop.interest[person], _CATS[rng.integers(0, len(_CATS), n)])
    has_cat = np.isin(etype, ["page_view", "product_view", "cart_add"]) & (rng.random(n) < 0.85)
    page_cat = np.where(has_cat, cat, None)
    path = np.where(
        has_cat, "/c/" + cat.astype(str).astype(object), np.where(is_form, "/newsletter", "/")
    )
    utm_i = rng.integers(0, len(vocab.UTM_SOURCES), n)
    with_utm = first_of_dev | (rng.random(n) < 0.08)
    utm = [np.array([u[k] for u in vocab.UTM_SOURCES], dtype=object)[utm_i] for k in range(3)]
    referrer = np.where(
        first_of_dev,
        np.array(vocab.REFERRERS, dtype=object)[rng.integers(0, len(vocab.REFERRERS), n)],
        None,
    )
    anon = dev_anon[ev_dev].copy()
    anon = mess.junk(rng, anon, 0.002, np.array(["null", "undefined", "anonymous"], dtype=object))
    event_ids = with_missing_keys(rng, ids("evt_", n, width=10), 0.001)
    epoch_ms = t.astype("datetime64[ms]").astype(np.int64)

    ctx.add(
        "web_events",
        "event_id",
        {
            "event_id": arr(event_ids, pa.string()),
            "anonymous_id": arr(anon, pa.string()),
            "user_id": pa.array(user_id, pa.int64(), mask=user_id < 0),
            "email": arr(email, pa.string()),
            "event_type": arr(etype, pa.string()),
            "page_path": arr(path, pa.string()),
            "page_category": arr(page_cat, pa.string()),
            "utm_source": arr(np.where(with_utm, utm[0], None), pa.string()),
            "utm_medium": arr(np.where(with_utm, utm[1], None), pa.string()),
            "utm_campaign": arr(np.where(with_utm, utm[2], None), pa.string()),
            "referrer": arr(referrer, pa.string()),
            "device_type": arr(dev_kind[ev_dev], pa.string()),
            "sent_at_ms": pa.array(epoch_ms, pa.int64()),
        },
        person,
    )
