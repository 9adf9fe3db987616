"""The sample-data generator: deterministic, complete, and as messy as promised."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pyarrow as pa

from sample_data import build_tables, mess, reference_date, vocab
from tests.data.conftest import AS_OF, PEOPLE, SEED

SOURCES = {
    "crm_contacts",
    "shop_customers",
    "shop_orders",
    "shop_order_lines",
    "shop_abandoned_carts",
    "web_events",
    "support_tickets",
    "support_surveys",
    "forms_submissions",
    "product_users",
    "product_events",
    "consent_changes",
    "consent_erasure_requests",
}


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = build_tables(120, 11, AS_OF)
    b = build_tables(120, 11, AS_OF)
    c = build_tables(120, 12, AS_OF)
    assert [t.name for t in a] == [t.name for t in b]
    for ta, tb in zip(a, b, strict=True):
        assert ta.table.equals(tb.table), ta.name
        assert np.array_equal(ta.person_idx, tb.person_idx)
    assert not all(ta.table.equals(tc.table) for ta, tc in zip(a, c, strict=True))


def test_every_source_is_written_with_rows(con_raw: duckdb.DuckDBPyConnection) -> None:
    tables = {
        r[0]
        for r in con_raw.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    assert SOURCES | {"ground_truth", "generation_info"} <= tables
    for name in SOURCES:
        assert con_raw.execute(f"select count(*) from raw.{name}").fetchone()[0] > 0, name
    seed, people, as_of = con_raw.execute(
        "select seed, people, as_of_date from raw.generation_info"
    ).fetchone()
    assert (seed, people, as_of) == (SEED, PEOPLE, AS_OF)


def test_ground_truth_covers_every_raw_record(con_raw: duckdb.DuckDBPyConnection) -> None:
    for name in SOURCES:
        key = con_raw.execute(
            "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ? order by ordinal_position limit 1",
            [name],
        ).fetchone()[0]
        missing = con_raw.execute(
            f"""
            select count(*) from raw.{name} as r
            left join raw.ground_truth as g
                on g.source = '{name}' and g.loader_id = r._loader_id
                and (g.source_record_id = cast(r.{key} as varchar) or (g.source_record_id is null and r.{key} is null))
            where g.person_id is null
            """
        ).fetchone()[0]
        assert missing == 0, name
    total = sum(con_raw.execute(f"select count(*) from raw.{n}").fetchone()[0] for n in SOURCES)
    assert con_raw.execute("select count(*) from raw.ground_truth").fetchone()[0] == total


def test_real_world_mess_is_present(con_raw: duckdb.DuckDBPyConnection) -> None:
    def q(sql: str, params: list | None = None):
        return con_raw.execute(sql, params or []).fetchone()[0]

    # email case / whitespace variants
    assert q("select count(*) from raw.crm_contacts where email <> lower(trim(email))") > 0
    assert q("select count(*) from raw.forms_submissions where email <> trim(email)") > 0
    # national and international phone formats
    assert (
        q("select count(*) from raw.crm_contacts where phone like '0%' and phone not like '00%'")
        > 0
    )
    assert q("select count(*) from raw.crm_contacts where phone like '+%' or phone like '00%'") > 0
    # junk and invalid identifiers
    assert (
        q(
            "select count(*) from raw.forms_submissions where lower(email) in ('test@test.com', 'noreply@example.com', 'none@none.com', 'a@a.com')"
        )
        > 0
    )
    assert q("select count(*) from raw.crm_contacts where email like 'info@%'") > 0
    assert (
        q("""select count(*) from (
        select email from raw.crm_contacts union all select email from raw.shop_customers
        union all select email from raw.forms_submissions) where email like '%@@%' or email like '% @%' or regexp_matches(email, '@[^.]+$')""")
        > 0
    )
    assert (
        q(
            "select count(*) from (select phone from raw.crm_contacts union all select phone from raw.forms_submissions) where list_contains(?, phone)",
            [list(mess.JUNK_PHONES)],
        )
        > 0
    )
    # missing values and missing keys
    assert q("select count(*) from raw.shop_customers where phone is null") > 0
    assert q("select count(*) from raw.forms_submissions where email = ''") > 0
    keyless = q("""select count(*) from raw.ground_truth where source_record_id is null""")
    assert keyless > 0
    # a household sharing a phone: one landline across several true people
    shared = con_raw.execute(
        """
        select max(n) from (
            select right(regexp_replace(s.phone, '[^0-9]', '', 'g'), 9) as digits, count(distinct g.person_id) as n
            from (select phone, _loader_id from raw.shop_customers union all select phone, _loader_id from raw.crm_contacts) s
            join raw.ground_truth g on g.loader_id = s._loader_id
            where s.phone is not null and length(regexp_replace(s.phone, '[^0-9]', '', 'g')) >= 9
                and regexp_replace(s.phone, '[^0-9]', '', 'g') not similar to '0+'
            group by 1)
        """
    ).fetchone()[0]
    assert shared >= 2


def test_nicknames_typos_moves_and_fuzzy_duplicates(con_raw: duckdb.DuckDBPyConnection) -> None:
    names = con_raw.execute(
        """
        select g.person_id, c.first_name, c.last_name, c.email, c.phone, c.street
        from raw.crm_contacts c join raw.ground_truth g on g.source = 'crm_contacts' and g.loader_id = c._loader_id
        union all
        select g.person_id, s.first_name, s.last_name, s.email, s.phone, s.street
        from raw.shop_customers s join raw.ground_truth g on g.source = 'shop_customers' and g.loader_id = s._loader_id
        """
    ).fetchall()
    by_person: dict[str, list[tuple]] = {}
    for row in names:
        by_person.setdefault(row[0], []).append(row[1:])
    spellings = [
        p
        for p, rows in by_person.items()
        if len({(r[0] or "").lower() for r in rows}) > 1
        or len({(r[1] or "").lower() for r in rows}) > 1
    ]
    assert spellings, "no person with two spellings of a name"
    nick = con_raw.execute(
        "select count(*) from (select first_name from raw.crm_contacts union all select first_name from raw.forms_submissions) where list_contains(?, first_name)",
        [sorted(set(vocab.NICKNAMES.values()))],
    ).fetchone()[0]
    assert nick > 0
    moved = con_raw.execute(
        """select count(*) from (
            select g.person_id from raw.crm_contacts c join raw.ground_truth g on g.loader_id = c._loader_id and g.source = 'crm_contacts'
            join raw.shop_customers s on true join raw.ground_truth gs on gs.loader_id = s._loader_id and gs.source = 'shop_customers'
            where g.person_id = gs.person_id and c.street <> s.street)"""
    ).fetchone()[0]
    assert moved > 0

    def norm_email(e: str | None) -> str | None:
        return e.strip().lower() if e else None

    def norm_phone(p: str | None) -> str | None:
        d = re.sub(r"\D", "", p or "")
        return d[-9:] if len(d) >= 9 else None

    # Fuzzy duplicates (flagged in ground truth): ~5-10% of person records, and they
    # share no email or phone with any non-duplicate record of the same person.
    rows = con_raw.execute(
        """
        select g.person_id, g.is_fuzzy_duplicate, g.source, r.email, r.phone from (
            select _loader_id, email, phone from raw.crm_contacts
            union all select _loader_id, email, phone from raw.shop_customers
            union all select _loader_id, email, null from raw.shop_orders
            union all select _loader_id, email, null from raw.shop_abandoned_carts
            union all select _loader_id, requester_email, requester_phone from raw.support_tickets
            union all select _loader_id, respondent_email, null from raw.support_surveys
            union all select _loader_id, email, phone from raw.forms_submissions
            union all select _loader_id, email, null from raw.product_users
            union all select _loader_id, email, phone from raw.consent_changes
            union all select _loader_id, email, null from raw.web_events
        ) r join raw.ground_truth g on g.loader_id = r._loader_id
        """
    ).fetchall()
    clean_ids: dict[str, set] = {}
    for person, dup, _, email, phone in rows:
        if not dup:
            clean_ids.setdefault(person, set()).update(
                {norm_email(email), norm_phone(phone)} - {None}
            )
    dups = [(person, email, phone) for person, dup, _, email, phone in rows if dup]
    assert dups
    for person, email, phone in dups:
        assert not ({norm_email(email), norm_phone(phone)} - {None}) & clean_ids.get(person, set())
    person_level = {
        "crm_contacts",
        "shop_customers",
        "support_tickets",
        "forms_submissions",
        "product_users",
    }
    level = [dup for _, dup, source, _, _ in rows if source in person_level]
    assert 0.03 < sum(level) / len(level) < 0.12, sum(level) / len(level)


def test_recent_activity_is_relative_to_the_reference_date(
    con_raw: duckdb.DuckDBPyConnection,
) -> None:
    ref = dt.datetime.combine(AS_OF, dt.time())
    fresh_carts = con_raw.execute(
        "select count(*) from raw.shop_abandoned_carts where created_at between ? - interval 24 hour and ?",
        [ref, ref],
    ).fetchone()[0]
    assert fresh_carts > 0
    newest = con_raw.execute("select max(ordered_at) from raw.shop_orders").fetchone()[0]
    assert newest <= ref
    inactive_trials = con_raw.execute(
        """select count(*) from raw.product_users u
           where u.plan = 'trial' and u.signed_up_at > ? - interval 14 day
             and (select max(occurred_at) from raw.product_events e where e.user_id = u.user_id) < ? - interval 3 day""",
        [ref, ref],
    ).fetchone()[0]
    assert inactive_trials > 0


def test_reference_date_reads_back(raw_db, tmp_path) -> None:
    assert reference_date(raw_db) == AS_OF
    assert reference_date(tmp_path / "nothing.duckdb") is None


def test_fuzzy_duplicates_are_mostly_new_contacts_reachable_by_a_fuzzy_link() -> None:
    """New contacts: a record in a system where the person has no other account,
    with the person's (typo'd) name, an address and a birth date, so a fuzzy link
    may join them. Second accounts (another customer id in the same system) are
    a small share: Ferry never merges those on a fuzzy link."""
    from sample_data.writer import ACCOUNT_TABLES, duplicate_kinds

    tables = build_tables(1500, 3, AS_OF)
    kinds = duplicate_kinds(tables)
    by_name = {t.name: t for t in tables}
    person_level = [
        "crm_contacts",
        "shop_customers",
        "support_tickets",
        "forms_submissions",
        "product_users",
    ]
    counts = {"new_contact": 0, "second_account": 0}
    for name in person_level:
        t, k = by_name[name], kinds[name]
        assert np.array_equal(np.not_equal(k, None), t.fuzzy), name
        for kind in counts:
            counts[kind] += int((k == kind).sum())
        new = t.person_idx[k == "new_contact"]
        system = name.split("_", 1)[0]
        if system in ACCOUNT_TABLES:
            # nobody's new contact sits beside an account of theirs in that system
            assert not np.isin(new, t.person_idx[~t.fuzzy]).any(), name
        if name in ("crm_contacts", "forms_submissions", "shop_customers"):
            rows = t.table.take(pa.array(np.flatnonzero(k == "new_contact"))).to_pylist()
            assert rows, name
            assert all(r["last_name"] and r["first_name"] for r in rows), name
            assert sum(r["street"] is not None for r in rows) >= 0.9 * len(rows), name
            assert sum(r["birth_date"] is not None for r in rows) >= 0.5 * len(rows), name
    total = sum(counts.values())
    assert counts["new_contact"] >= 0.75 * total, counts
    assert 0 < counts["second_account"] <= 0.25 * total, counts


def test_crm_internal_duplicates_are_a_realistic_share_of_each_kind() -> None:
    """--crm-duplicate-share: duplicates of CRM rows inside the CRM (entered twice, names
    swapped, first name replaced, no birth date, street abbreviated, postcode typo, an
    import run twice, a lead converted), at about the share asked, each kind shaped
    the way it happens; the default (0) leaves the data byte for byte as before."""
    from sample_data.duplicates import CRM_INTERNAL_KINDS
    from sample_data.writer import duplicate_kinds

    plain = {t.name: t for t in build_tables(6000, 3, AS_OF)}
    messy = {t.name: t for t in build_tables(6000, 3, AS_OF, crm_duplicate_share=0.08)}
    before, crm = plain["crm_contacts"], messy["crm_contacts"]
    kinds = duplicate_kinds(list(messy.values()))["crm_contacts"]
    own_rows = before.table.num_rows
    assert crm.table.slice(0, own_rows).equals(before.table)  # appended, nothing else moved
    added = crm.table.num_rows - own_rows
    assert 0.05 <= added / crm.table.num_rows <= 0.15, added
    assert set(kinds[own_rows:]) == set(CRM_INTERNAL_KINDS)
    assert crm.fuzzy[own_rows:].all()
    ids = crm.table.column("contact_id").to_pylist()
    assert len({i for i in ids if i}) == len([i for i in ids if i])  # new contact ids
    rows = crm.table.to_pylist()
    originals = {
        int(p): r for p, r, d in zip(crm.person_idx, rows, crm.fuzzy, strict=True) if not d
    }
    for row, kind, person in zip(
        rows[own_rows:], kinds[own_rows:], crm.person_idx[own_rows:], strict=True
    ):
        original = originals[int(person)]
        if kind == "crm_import_twice":
            same = {k for k in row if k not in ("contact_id", "_loader_id")}
            assert {k: row[k] for k in same} == {k: original[k] for k in same}
        elif kind == "crm_lead_converted":
            assert row["lifecycle_stage"] == "lead" and row["street"] is None
            assert row["last_name"] == original["last_name"]
        else:
            assert row["phone"] is None and row["last_name"] and row["first_name"]
        if kind == "crm_names_swapped":
            assert (row["first_name"], row["last_name"]) == (
                original["last_name"], original["first_name"],
            )  # fmt: skip
        elif kind == "crm_first_name_replaced":
            assert row["first_name"] != original["first_name"]
            assert row["last_name"] == original["last_name"]
            assert row["birth_date"] == original["birth_date"] is not None
        elif kind == "crm_no_birth_date":
            assert row["birth_date"] is None and original["birth_date"] is not None
        elif kind == "crm_address_abbreviated":
            assert row["street"] != original["street"] and len(row["street"]) < len(original["street"]) + 2
            assert row["postcode"] == original["postcode"]
        elif kind == "crm_postcode_typo" and original["postcode"]:
            assert len(row["postcode"]) == len(original["postcode"])
            assert sum(a != b for a, b in zip(row["postcode"], original["postcode"])) == 1
