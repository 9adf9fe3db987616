"""Marketing forms: newsletter sign-ups, lead-magnet downloads, demo requests,
trade-show and in-store sign-ups (a form tool / event app export).

Damage profile: the messiest source. Junk addresses (test@test.com), invalid
emails, typed phone numbers, empty strings for missing values, nicknames.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import duplicates, mess, vocab
from sample_data.context import Context, arr, ids, iso_with_offset, with_missing_keys

SOURCE_NO = 4
FORM_TYPES = np.array(
    ["newsletter", "lead_magnet", "demo_request", "trade_show", "in_store"], dtype=object
)


def build(ctx: Context) -> None:
    rng, pop = ctx.rng, ctx.pop
    base = ctx.sample(0.3)
    # new contacts: CRM contacts and shop customers signing up at a trade show,
    # in a store or for the newsletter with a new address
    people, dup = ctx.with_duplicates(
        base, eligible=np.union1d(ctx.bases["crm"], ctx.bases["shop"]), rows_per_member=2.0
    )
    per = np.where(dup, 1, rng.integers(1, 4, len(people)))
    r = np.repeat(np.arange(len(people)), per)
    idx, is_dup = people[r], dup[r]
    n = len(idx)
    b2b = np.not_equal(pop.company[idx], None)
    ftype = np.where(
        b2b,
        FORM_TYPES[rng.choice(5, n, p=[0.25, 0.35, 0.25, 0.15, 0.0])],
        FORM_TYPES[rng.choice(5, n, p=[0.6, 0.1, 0.0, 0.05, 0.25])],
    )
    ftype[is_dup] = FORM_TYPES[rng.choice(np.array([0, 3, 4]), is_dup.sum(), p=[0.4, 0.3, 0.3])]
    first, last = ctx.fuzzy_names(idx, is_dup, typo_share=0.05, nick_share=0.2)
    # addresses and birth dates: in-store and trade-show sign-ups ask for a
    # postcode; duplicates (sign-ups of people known elsewhere) give more
    postcode = np.where(np.isin(ftype, ["in_store", "trade_show"]), pop.postcode[idx], None)
    street = np.full(n, None, dtype=object)
    city = np.full(n, None, dtype=object)
    street[is_dup], city[is_dup], postcode[is_dup] = ctx.dup_address(idx[is_dup])
    birth_date = np.full(n, None, dtype=object)
    birth_date[is_dup] = np.datetime_as_string(
        duplicates.birth_dates(rng, pop.birth_date[idx[is_dup]])
    ).astype(object)
    email = np.where(b2b & (ftype != "newsletter"), pop.primary_email[idx], pop.email[idx])
    email = mess.email_variants(rng, email, 0.3)
    email = mess.invalid_emails(rng, email, 0.02)
    email = mess.junk(rng, email, 0.01, mess.JUNK_EMAILS)
    email[is_dup] = ctx.dup_email(idx[is_dup], SOURCE_NO)
    wants_phone = np.isin(ftype, ["demo_request", "trade_show", "in_store"])
    phone = np.where(wants_phone, mess.format_phones(rng, pop.mobile[idx], 0.85), None)
    phone = np.where(wants_phone, mess.blank(rng, phone, 0.1, ""), None)
    phone = np.where(wants_phone, mess.junk(rng, phone, 0.01, mess.JUNK_PHONES), None)
    phone[is_dup] = None
    asset = np.select(
        [ftype == "lead_magnet", ftype == "trade_show", ftype == "in_store"],
        [
            np.array(vocab.LEAD_MAGNETS, dtype=object)[rng.integers(0, len(vocab.LEAD_MAGNETS), n)],
            np.array(vocab.TRADE_SHOWS, dtype=object)[rng.integers(0, len(vocab.TRADE_SHOWS), n)],
            pop.preferred_store[idx],
        ],
        None,
    )
    utm_i = rng.integers(0, len(vocab.UTM_SOURCES), n)
    online = ~np.isin(ftype, ["trade_show", "in_store"])
    submitted = ctx.ago(n, 700, 0.1)
    keys = with_missing_keys(rng, ids("F-", n, width=8), 0.004)
    ctx.add(
        "forms_submissions",
        "submission_id",
        {
            "submission_id": arr(keys, pa.string()),
            "form_type": arr(ftype, pa.string()),
            "asset": arr(asset, pa.string()),
            "email": arr(mess.blank(rng, email, 0.01, ""), pa.string()),
            "phone": arr(phone, pa.string()),
            # a sign-up that counts as a duplicate always says who it is
            "first_name": arr(
                np.where(is_dup, first, mess.blank(rng, first, 0.1, "")), pa.string()
            ),
            "last_name": arr(np.where(is_dup, last, mess.blank(rng, last, 0.1, "")), pa.string()),
            "company": arr(np.where(is_dup, None, pop.company[idx]), pa.string()),
            "job_title": arr(pop.job_title[idx], pa.string()),
            "postcode": arr(postcode, pa.string()),
            "street": arr(street, pa.string()),
            "city": arr(city, pa.string()),
            "birth_date": arr(birth_date, pa.string()),
            "consent_email": pa.array(rng.random(n) < 0.8),
            "consent_sms": pa.array(wants_phone & (rng.random(n) < 0.4)),
            "utm_source": arr(
                np.where(
                    online, np.array([u[0] for u in vocab.UTM_SOURCES], dtype=object)[utm_i], None
                ),
                pa.string(),
            ),
            "utm_medium": arr(
                np.where(
                    online, np.array([u[1] for u in vocab.UTM_SOURCES], dtype=object)[utm_i], None
                ),
                pa.string(),
            ),
            "utm_campaign": arr(
                np.where(
                    online, np.array([u[2] for u in vocab.UTM_SOURCES], dtype=object)[utm_i], None
                ),
                pa.string(),
            ),
            "submitted_at": arr(
                iso_with_offset(submitted, rng.choice(np.array([0, 1, 2]), n)), pa.string()
            ),
        },
        idx,
        is_dup,
    )
