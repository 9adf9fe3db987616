"""CRM contacts: sales-owned, typed by hand, with owner, company and sales notes.

Damage profile: nicknames, typos, case noise, old addresses (movers), role
addresses (info@company), junk phones, missing keys, fuzzy duplicates.
Timestamps are local-time ISO strings with an offset, as CRM exports give them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import duplicates, mess, vocab
from sample_data.context import Context, arr, ids, iso_with_offset, with_missing_keys

SOURCE_NO = 1


def plan(ctx: Context) -> np.ndarray:
    """Who is in the CRM: B2B people much more likely than others."""
    return ctx.sample(0.2, np.where(np.not_equal(ctx.pop.company, None), 3.0, 0.4))


def build(ctx: Context) -> None:
    rng, pop = ctx.rng, ctx.pop
    base = ctx.bases["crm"]
    # new contacts: shop customers a salesperson meets and types in again
    idx, dup = ctx.with_duplicates(base, eligible=ctx.bases["shop"])
    n = len(idx)
    first, last = ctx.fuzzy_names(idx, dup, typo_share=0.04, nick_share=0.15)

    email = pop.primary_email[idx].copy()
    email = mess.email_variants(rng, email, 0.25)
    email = mess.invalid_emails(rng, email, 0.01)
    email = mess.blank(rng, email, 0.04)
    # Role addresses (info@company) typed instead of the person's own: shared hubs.
    with_company = np.flatnonzero(np.not_equal(pop.company_domain[idx], None) & ~dup)
    role = with_company[mess.mask(rng, len(with_company), 0.03)]
    email[role] = "info@" + pop.company_domain[idx][role]
    email[dup] = ctx.dup_email(idx[dup], SOURCE_NO)

    phone_e164 = np.where(rng.random(n) < 0.8, pop.mobile[idx], pop.home_phone[idx])
    phone = mess.format_phones(rng, phone_e164, national_share=0.7)
    phone = mess.blank(rng, phone, 0.15)
    phone = mess.junk(rng, phone, 0.006, mess.JUNK_PHONES)
    phone = mess.junk(rng, phone, 0.006, mess.INVALID_PHONES)
    phone[dup] = None

    moved = np.not_equal(pop.old_street[idx], None) & (rng.random(n) < 0.7)
    street = np.where(moved, pop.old_street[idx], pop.street[idx])
    city = np.where(moved, pop.old_city[idx], pop.city[idx])
    postcode = np.where(moved, pop.old_postcode[idx], pop.postcode[idx])
    street[dup], city[dup], postcode[dup] = ctx.dup_address(idx[dup])

    owner = rng.integers(0, len(vocab.SALES_OWNERS), n)
    competitor = rng.random(n) < 0.2
    comp_name = np.array(vocab.COMPETITORS, dtype=object)[
        rng.integers(0, len(vocab.COMPETITORS), n)
    ]
    contract_end = ctx.as_of.astype("datetime64[D]") + rng.integers(-30, 400, n).astype(
        "timedelta64[D]"
    )
    notes = np.where(
        competitor,
        "Currently with "
        + comp_name
        + ", contract ends "
        + np.datetime_as_string(contract_end).astype(object)
        + ". Follow up 2 months before.",
        np.where(rng.random(n) < 0.4, "Met at event, interested in a demo.", None),
    )
    created = ctx.ago(n, 1000, 30)
    updated = created + rng.uniform(0, 1, n) * (ctx.as_of - created)
    offset = rng.choice(np.array([1, 2]), n)
    keys = with_missing_keys(rng, ids("CRM-", n, width=6))

    columns = {
        "contact_id": arr(keys, pa.string()),
        "first_name": arr(first, pa.string()),
        "last_name": arr(last, pa.string()),
        "email": arr(email, pa.string()),
        "phone": arr(phone, pa.string()),
        "company": arr(np.where(dup, None, pop.company[idx]), pa.string()),
        "job_title": arr(pop.job_title[idx], pa.string()),
        "street": arr(street, pa.string()),
        "city": arr(city, pa.string()),
        "postcode": arr(postcode, pa.string()),
        "country": arr(pop.country[idx], pa.string()),
        "birth_date": arr(
            np.where(
                dup | (rng.random(n) < 0.1),
                duplicates.birth_dates(rng, pop.birth_date[idx]),
                np.datetime64("NaT"),
            ),
            pa.date32(),
        ),
        "owner_name": arr(
            np.array([o[0] for o in vocab.SALES_OWNERS], dtype=object)[owner], pa.string()
        ),
        "owner_email": arr(
            np.array([o[1] for o in vocab.SALES_OWNERS], dtype=object)[owner], pa.string()
        ),
        "lead_source": arr(
            np.array(vocab.LEAD_SOURCES, dtype=object)[rng.integers(0, len(vocab.LEAD_SOURCES), n)],
            pa.string(),
        ),
        "lifecycle_stage": arr(
            np.array(["lead", "mql", "sql", "opportunity", "customer"], dtype=object)[
                rng.integers(0, 5, n)
            ],
            pa.string(),
        ),
        "competitor_name": arr(np.where(competitor, comp_name, None), pa.string()),
        "competitor_contract_end_date": arr(
            np.where(competitor, contract_end, np.datetime64("NaT")), pa.date32()
        ),
        "notes": arr(notes, pa.string()),
        "created_at": arr(iso_with_offset(created, offset), pa.string()),
        "updated_at": arr(iso_with_offset(updated.astype("datetime64[s]"), offset), pa.string()),
    }
    table, idx, dup, kinds = duplicates.crm_internal(
        rng, pop, pa.table(columns), idx, dup, ctx.crm_duplicate_share
    )
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    ctx.add("crm_contacts", "contact_id", columns, idx, dup, kinds)
