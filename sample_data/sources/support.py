"""Help desk: tickets (requester name/email/phone) and NPS/CSAT surveys.

Damage profile: a single free-text requester name, email variants, national
phone formats, a requester id of the help desk's own. Timestamps are ISO UTC
strings with a trailing 'Z'.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import mess, vocab
from sample_data.context import Context, arr, ids, with_missing_keys

SOURCE_NO = 3


def _iso_z(ts: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(ts, unit="s").astype(object) + "Z"


def build(ctx: Context) -> None:
    rng, pop = ctx.rng, ctx.pop
    base = ctx.sample(0.15, pop.activity + 0.2)
    people, dup = ctx.with_duplicates(base)
    requester = ids("ZU", len(people), width=7)  # the help desk's own user id
    per = rng.integers(1, 4, len(people))
    r = np.repeat(np.arange(len(people)), per)
    idx = people[r]
    n = len(idx)
    first, last = ctx.fuzzy_names(idx, dup[r], typo_share=0.02, nick_share=0.1)
    name = first + " " + last
    email = mess.email_variants(rng, pop.email[idx], 0.2)
    email = mess.invalid_emails(rng, email, 0.01)
    email[dup[r]] = ctx.dup_email(idx[dup[r]], SOURCE_NO)
    phone = np.where(rng.random(n) < 0.3, mess.format_phones(rng, pop.mobile[idx], 0.8), None)
    phone[dup[r]] = None
    cat = np.array(vocab.TICKET_CATEGORIES, dtype=object)[
        rng.integers(0, len(vocab.TICKET_CATEGORIES), n)
    ]
    created = ctx.ago(n, 500, 0.2)
    resolved = rng.random(n) < 0.85
    resolved_at = created + rng.integers(600, 5 * 86_400, n).astype("timedelta64[s]")
    keys = with_missing_keys(rng, ids("T-", n, width=7), 0.004)
    ctx.add(
        "support_tickets",
        "ticket_id",
        {
            "ticket_id": arr(keys, pa.string()),
            "requester_id": arr(requester[r], pa.string()),
            "requester_name": arr(name, pa.string()),
            "requester_email": arr(email, pa.string()),
            "requester_phone": arr(phone, pa.string()),
            "category": arr(cat, pa.string()),
            "subject": arr(
                np.array([vocab.TICKET_SUBJECTS[c] for c in cat], dtype=object), pa.string()
            ),
            "priority": arr(
                np.array(["low", "normal", "high", "urgent"], dtype=object)[
                    rng.choice(4, n, p=[0.3, 0.5, 0.15, 0.05])
                ],
                pa.string(),
            ),
            "status": arr(np.where(resolved, "solved", "open").astype(object), pa.string()),
            "created_at": arr(_iso_z(created), pa.string()),
            "solved_at": arr(
                np.where(resolved, _iso_z(np.minimum(resolved_at, ctx.as_of)), None), pa.string()
            ),
        },
        idx,
        dup[r],
    )

    # Surveys: CSAT after half the solved tickets, NPS for some requesters.
    s = np.flatnonzero(resolved & (rng.random(n) < 0.5) & np.not_equal(keys, None))
    m = len(s)
    is_nps = rng.random(m) < 0.4
    score = np.where(
        is_nps,
        rng.choice(11, m, p=[0.03, 0.02, 0.03, 0.04, 0.04, 0.06, 0.08, 0.15, 0.2, 0.15, 0.2]),
        rng.integers(1, 6, m),
    )
    ctx.add(
        "support_surveys",
        "survey_response_id",
        {
            "survey_response_id": arr(ids("SR-", m, width=7), pa.string()),
            "ticket_id": arr(keys[s], pa.string()),
            "requester_id": arr(requester[r][s], pa.string()),
            "respondent_email": arr(email[s], pa.string()),
            "survey_type": arr(np.where(is_nps, "nps", "csat").astype(object), pa.string()),
            "score": pa.array(score.astype(np.int64)),
            "comment": arr(np.where(score >= 4, None, "Slow answer"), pa.string()),
            "submitted_at": arr(
                _iso_z(
                    np.minimum(
                        resolved_at[s] + rng.integers(3600, 3 * 86_400, m).astype("timedelta64[s]"),
                        ctx.as_of,
                    )
                ),
                pa.string(),
            ),
        },
        idx[s],
        dup[r][s],
    )
