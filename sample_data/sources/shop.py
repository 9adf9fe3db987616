"""E-commerce: customers (with loyalty and preferred store), orders, order lines
with product categories, and abandoned checkouts.

Damage profile: email case/whitespace, household landlines, missing phones,
guest orders with only an email, second accounts (fuzzy duplicates), missing
keys. Timestamps are UTC without zone (the shop database's habit).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import duplicates, mess, vocab
from sample_data.context import Context, arr, ids, with_missing_keys

SOURCE_NO = 2
_CATS = np.array(list(vocab.CATEGORIES), dtype=object)


def plan(ctx: Context) -> np.ndarray:
    """Who has a shop account."""
    return ctx.sample(0.5)


def _customers(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng, pop = ctx.rng, ctx.pop
    base = ctx.bases["shop"]
    # new contacts: CRM contacts who open a shop account with a private address
    idx, dup = ctx.with_duplicates(base, eligible=ctx.bases["crm"])
    n = len(idx)
    first, last = ctx.fuzzy_names(idx, dup, typo_share=0.015, nick_share=0.03)
    email = mess.email_variants(rng, pop.email[idx], 0.12)
    email = mess.invalid_emails(rng, email, 0.008)
    email = mess.junk(rng, email, 0.004, mess.JUNK_EMAILS)
    email = mess.blank(rng, email, 0.02)
    email[dup] = ctx.dup_email(idx[dup], SOURCE_NO)
    # Families give the shared landline more often than people living alone.
    family = np.isin(pop.household[idx], pop.household[pop.household != np.arange(pop.n)])
    use_home = np.not_equal(pop.home_phone[idx], None) & (
        rng.random(n) < np.where(family, 0.7, 0.3)
    )
    phone = np.where(use_home, pop.home_phone[idx], pop.mobile[idx])
    phone = mess.format_phones(rng, phone, national_share=0.6)
    phone = mess.junk(rng, phone, 0.005, mess.INVALID_PHONES)
    phone = mess.blank(rng, phone, 0.2)
    phone[dup] = None
    street, city, postcode = pop.street[idx].copy(), pop.city[idx].copy(), pop.postcode[idx].copy()
    street[dup], city[dup], postcode[dup] = ctx.dup_address(idx[dup])
    created = ctx.ago(n, 1100, 2)
    updated = created + (rng.uniform(0, 1, n) * (ctx.as_of - created).astype(np.int64)).astype(
        "timedelta64[s]"
    )
    points = np.round(rng.gamma(1.5, 400, n)).astype(np.int64)
    tier = np.array(vocab.LOYALTY_TIERS, dtype=object)[np.searchsorted([300, 1000, 2500], points)]
    keys = np.arange(100001, 100001 + n).astype(np.int64)
    has_key = rng.random(n) >= 0.004
    ctx.add(
        "shop_customers",
        "customer_id",
        {
            "customer_id": pa.array(keys, pa.int64(), mask=~has_key),
            "email": arr(email, pa.string()),
            "first_name": arr(first, pa.string()),
            "last_name": arr(last, pa.string()),
            "phone": arr(phone, pa.string()),
            "birth_date": arr(
                np.where(
                    rng.random(n) < 0.7,
                    np.where(
                        dup, duplicates.birth_dates(rng, pop.birth_date[idx]), pop.birth_date[idx]
                    ),
                    np.datetime64("NaT"),
                ),
                pa.date32(),
            ),
            "street": arr(street, pa.string()),
            "city": arr(city, pa.string()),
            "postcode": arr(postcode, pa.string()),
            "country": arr(pop.country[idx], pa.string()),
            "preferred_store": arr(mess.blank(rng, pop.preferred_store[idx], 0.3), pa.string()),
            "loyalty_status": arr(tier, pa.string()),
            "loyalty_points": pa.array(points, pa.int64()),
            "accepts_marketing": pa.array(rng.random(n) < 0.6),
            "created_at": arr(created, pa.timestamp("s")),
            "updated_at": arr(updated, pa.timestamp("s")),
        },
        idx,
        dup,
    )
    # a broken export loses the key of the customer row only: orders, carts and
    # web logins still carry the customer's real id
    return idx, keys, created, dup


def _orders(
    ctx: Context,
    cust_idx: np.ndarray,
    cust_key: np.ndarray,
    cust_created: np.ndarray,
    dup: np.ndarray,
) -> None:
    rng, pop = ctx.rng, ctx.pop
    # a forgotten second account sees an order or two, not a life of shopping
    per = np.where(
        dup, rng.integers(0, 3, len(cust_idx)), rng.poisson(0.3 + 4.0 * pop.activity[cust_idx])
    )
    owner = np.repeat(np.arange(len(cust_idx)), per)
    # Guest checkouts: people who never made an account, identified by email only.
    guests = ctx.sample(0.05)
    n_guest = rng.integers(1, 3, len(guests))
    idx = np.concatenate([cust_idx[owner], np.repeat(guests, n_guest)])
    customer_key = np.concatenate([cust_key[owner], np.full(n_guest.sum(), -1)])
    is_guest = np.concatenate([np.zeros(len(owner), bool), np.ones(n_guest.sum(), bool)])
    from_dup = np.concatenate([dup[owner], np.zeros(n_guest.sum(), bool)])
    n = len(idx)
    span = np.concatenate(
        [(ctx.as_of - cust_created[owner]).astype(np.int64) / 86_400, np.full(n_guest.sum(), 700.0)]
    )
    ordered = ctx.as_of - (rng.uniform(0.01, 1, n) * span * 86_400).astype("timedelta64[s]")
    email = np.where(is_guest, mess.email_variants(rng, pop.email[idx], 0.3), None)
    order_keys = with_missing_keys(rng, ids("SO-", n, width=8), 0.002)

    # Lines: 1-4 per order, mostly in the person's main interest.
    n_lines = rng.integers(1, 5, n)
    line_order = np.repeat(np.arange(n), n_lines)
    m = len(line_order)
    in_interest = rng.random(m) < 0.6
    cat = np.where(
        in_interest, pop.interest[idx][line_order], _CATS[rng.integers(0, len(_CATS), m)]
    )
    prod_no = rng.integers(0, 4, m)
    info = vocab.CATEGORIES
    sku = np.array(
        [f"{info[c][0]}-{p + 1:03d}" for c, p in zip(cat, prod_no, strict=True)], dtype=object
    )
    name = np.array([info[c][1][p] for c, p in zip(cat, prod_no, strict=True)], dtype=object)
    price = np.round(np.array([info[c][2] for c in cat]) * rng.uniform(0.6, 1.6, m), 2)
    qty = rng.choice(np.array([1, 1, 1, 2, 3]), m)
    total = np.round(np.bincount(line_order, weights=price * qty, minlength=n), 2)
    status = np.array(["completed"] * 17 + ["cancelled", "refunded", "pending"], dtype=object)[
        rng.integers(0, 20, n)
    ]
    channel = np.where(rng.random(n) < 0.7, "online", "in_store").astype(object)
    store = np.where(channel == "in_store", pop.preferred_store[idx], None)

    ctx.add(
        "shop_orders",
        "order_id",
        {
            "order_id": arr(order_keys, pa.string()),
            "customer_id": pa.array(customer_key, pa.int64(), mask=customer_key < 0),
            "email": arr(email, pa.string()),
            "ordered_at": arr(ordered, pa.timestamp("s")),
            "status": arr(status, pa.string()),
            "channel": arr(channel, pa.string()),
            "store_id": arr(store, pa.string()),
            "currency": pa.array(np.full(n, "EUR")),
            "total_amount": pa.array(total),
        },
        idx,
        from_dup,
    )
    ctx.add(
        "shop_order_lines",
        "order_line_id",
        {
            "order_line_id": arr(ids("SOL-", m, width=9), pa.string()),
            "order_id": arr(order_keys[line_order], pa.string()),
            "sku": arr(sku, pa.string()),
            "product_name": arr(name, pa.string()),
            "product_category": arr(cat, pa.string()),
            "quantity": pa.array(qty.astype(np.int64)),
            "unit_price": pa.array(price),
        },
        idx[line_order],
        from_dup[line_order],
    )


def _abandoned_carts(
    ctx: Context, cust_idx: np.ndarray, cust_key: np.ndarray, dup: np.ndarray
) -> None:
    rng, pop = ctx.rng, ctx.pop
    pick = np.flatnonzero(rng.random(len(cust_idx)) < 0.12)
    n = len(pick)
    idx = cust_idx[pick]
    # A third are fresh (last 24 hours) so "abandoned cart" audiences have members.
    fresh = rng.random(n) < 0.33
    created = np.where(fresh, ctx.ago(n, 0.95, 0.05), ctx.ago(n, 120, 1))
    cat = np.where(rng.random(n) < 0.7, pop.interest[idx], _CATS[rng.integers(0, len(_CATS), n)])
    ctx.add(
        "shop_abandoned_carts",
        "cart_id",
        {
            "cart_id": arr(ids("CART-", n, width=8), pa.string()),
            "customer_id": pa.array(cust_key[pick], pa.int64(), mask=cust_key[pick] < 0),
            # a duplicate account's cart must not carry the person's main address
            "email": arr(
                np.where(dup[pick], None, mess.email_variants(rng, pop.email[idx], 0.1)),
                pa.string(),
            ),
            "created_at": arr(created, pa.timestamp("s")),
            "item_count": pa.array(rng.integers(1, 5, n).astype(np.int64)),
            "cart_value": pa.array(np.round(rng.gamma(2, 40, n), 2)),
            "top_category": arr(cat, pa.string()),
            "checkout_url": arr(
                "https://shop.ferry-demo.com/cart/" + ids("", n, width=8), pa.string()
            ),
        },
        idx,
        dup[pick],
    )


def build(ctx: Context) -> np.ndarray:
    """Returns, per person, the shop customer id (or -1) so web logins can carry it."""
    idx, keys, created, dup = _customers(ctx)
    _orders(ctx, idx, keys, created, dup)
    _abandoned_carts(ctx, idx, keys, dup)
    person_key = np.full(ctx.pop.n, -1, dtype=np.int64)
    # web logins carry the person's own account, never a duplicate's (a duplicate
    # shares no identifier with the person's other records)
    own = ~dup
    person_key[idx[own]] = keys[own]
    return person_key
