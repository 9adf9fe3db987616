"""Turn person records into the comparison features the Splink model reads.

Splink compares columns as they are, so everything that makes two spellings of
the same fact equal (case, accents, punctuation, nicknames, phone formats, the
domain of an e-mail address) happens here, once, in SQL on DuckDB. Training and
scoring both go through :func:`prepare_features`, so a model is always applied to
features built exactly like the ones it was trained on.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

# Columns of int_person_records the matcher reads (the data contract). Anything
# else in the table is ignored; optional columns that are absent become null.
REQUIRED_COLUMNS: tuple[str, ...] = ("source", "source_record_id", "first_name", "last_name")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "email",
    "email_is_valid",
    "phone",
    "phone_is_valid",
    "birth_date",
    "street",
    "city",
    "postcode",
    "company",
)
INPUT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Columns of the prepared feature table (what the comparisons and blocking
# rules in model_spec.py may reference).
FEATURE_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "source",
    "source_record_id",
    "first_name",
    "last_name",
    "first_name_key",
    "first_name_aliases",
    "full_name_key",
    "name_pair",
    "birth_date",
    "birth_digits",
    "birth_date_last_initial",
    "birth_date_first_initial",
    "birthday_initials",
    "street_name_postcode",
    "street",
    "street_number",
    "street_name",
    "postcode",
    "city",
    "email",
    "email_local",
    "email_number",
    "email_number_prefix",
    "email_mailbox",
    "phone_digits",
    "work_domain",
    "own_work_local",
    "employer",
)

# A blocking/matching value shared by more records than this is a hub (junk
# e-mail local part such as "info", a placeholder phone such as 000000000):
# it is blanked for matching, so it neither links strangers nor explodes the
# number of compared pairs.
DEFAULT_MAX_RECORDS_PER_VALUE = 25

# Mailbox providers and ISPs, by the first label of the domain (so a typo'd
# 'gmail' or 'hotmail.fr' counts too): an address there says nothing about where
# its owner works. Any other domain of a valid address names an employer
# ('anna.dupont@granit-btp.fr' -> 'granitbtp', the same key as the company name
# 'Granit BTP' a form or the CRM gives). A domain missing from this list is
# caught anyway when it holds more than EMPLOYER_DOMAIN_MAX_SHARE of all records
# (and more than max_records_per_value) and no record names it as its company.
PERSONAL_EMAIL_PROVIDERS: tuple[str, ...] = (
    "aol", "bbox", "btinternet", "example", "free", "gmail", "gmx", "googlemail",
    "hotmail", "icloud", "laposte", "live", "mac", "mail", "me", "msn", "neuf",
    "none", "numericable", "orange", "outlook", "proton", "protonmail", "sfr", "skynet",
    "sky", "telenet", "test", "tutanota", "virginmedia", "wanadoo", "web", "yahoo",
    "yandex", "zoho",
)  # fmt: skip
EMPLOYER_DOMAIN_MAX_SHARE = 0.01

# Local parts of shared role mailboxes ('info@granit-btp.fr'): they tell the
# employer but are nobody's own address, so two of them, or one and a person's
# own address at the same company, say nothing about being two people.
ROLE_MAILBOXES: tuple[str, ...] = (
    "accueil", "admin", "billing", "bonjour", "commercial", "compta", "contact",
    "direction", "facturation", "hello", "hr", "info", "jobs", "marketing", "noreply",
    "office", "rh", "sales", "secretariat", "service", "support", "team", "ventes",
)  # fmt: skip

# Legal forms dropped from company names: 'Nordwind GmbH' is 'nordwind', as in
# nordwind.de. Whole words only; '& Co' stays ('Pixel & Co' is pixelco.fr).
LEGAL_FORMS: tuple[str, ...] = (
    "ag", "bv", "corp", "eurl", "gmbh", "inc", "limited", "llc", "ltd", "nv", "plc",
    "sa", "sarl", "sas", "sasu", "spa", "srl",
)  # fmt: skip


def _name_sql(column: str) -> str:
    """Lowercase ASCII letters only: 'Jean-Pierre ' and 'jean pierre' compare equal."""
    return (
        f"nullif(regexp_replace(lower(strip_accents(cast({column} as varchar))), "
        f"'[^a-z]', '', 'g'), '')"
    )


def _words_sql(column: str) -> str:
    """Lowercase ASCII words separated by one space (street names, cities)."""
    return (
        "nullif(trim(regexp_replace(regexp_replace(lower(strip_accents(cast("
        f"{column} as varchar))), '[^a-z0-9]+', ' ', 'g'), ' +', ' ', 'g')), '')"
    )


# Street-type abbreviations (French and English) spelled out, whole words only,
# so '12 r. Pasteur' and '12 rue Pasteur', '4 Smith St' and '4 smith street'
# compare equal.
STREET_ABBREVIATIONS: dict[str, str] = {
    "r": "rue",
    "av": "avenue",
    "ave": "avenue",
    "bd": "boulevard",
    "bld": "boulevard",
    "blvd": "boulevard",
    "pl": "place",
    "ch": "chemin",
    "imp": "impasse",
    "st": "street",
    "rd": "road",
    "dr": "drive",
    "ln": "lane",
    "ct": "court",
    "cres": "crescent",
    "pde": "parade",
    "hwy": "highway",
    "sq": "square",
    "tce": "terrace",
    "cl": "close",
}


def _street_sql(column: str) -> str:
    """Words of the street with abbreviations spelled out."""
    sql = _words_sql(column)
    for short, full in STREET_ABBREVIATIONS.items():
        sql = f"regexp_replace({sql}, '\\b{short}\\b', '{full}', 'g')"
    return sql


def _birth_date_sql(column: str) -> str:
    """'YYYY-MM-DD' from a date, a timestamp or a string of 8 digits (YYYYMMDD,
    YYYY-MM-DD, YYYY/MM/DD): kept as text even when it is no valid date (a typo'd
    19850230 still compares with 19850203), blank when it is no date at all."""
    digits = f"regexp_replace(left(cast({column} as varchar), 10), '[^0-9]', '', 'g')"
    return (
        f"case when length({digits}) = 8 then substr({digits}, 1, 4) || '-' || "
        f"substr({digits}, 5, 2) || '-' || substr({digits}, 7, 2) end"
    )


def _company_sql(column: str) -> str:
    """Letters and digits of the company name without its legal form."""
    words = _words_sql(column)
    forms = "|".join(LEGAL_FORMS)
    return (
        f"nullif(regexp_replace(regexp_replace({words}, '\\b({forms})\\b', '', 'g'), "
        "'[^a-z0-9]', '', 'g'), '')"
    )


def _email_syntax_sql(expression: str) -> str:
    """A plain address: local part, one @, a domain with a top-level part."""
    return (
        f"coalesce(regexp_full_match({expression}, "
        "'[a-z0-9._%+''-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}'), false)"
    )


def _bounded_key(expression: str, max_records_per_value: int) -> str:
    """``expression`` for blocking, blank where more than ``max_records_per_value``
    records share its value: a block's size stays bounded however many records
    there are."""
    return (
        f"case when count(*) over (partition by {expression}) <= {int(max_records_per_value)}"
        f" then {expression} end"
    )


def _column_or_null(available: set[str], column: str, sql_type: str = "varchar") -> str:
    if column in available:
        return f"cast({column} as {sql_type})"
    return f"cast(null as {sql_type})"


def prepare_features(
    con: duckdb.DuckDBPyConnection,
    records: pa.Table,
    nicknames: pa.Table,
    *,
    max_records_per_value: int = DEFAULT_MAX_RECORDS_PER_VALUE,
    table_name: str = "fuzzy_features",
    extra_ids: tuple[str, ...] = (),
) -> str:
    """Build the feature table ``table_name`` in ``con`` and return its name.

    ``records`` follows the int_person_records contract; ``nicknames`` has
    columns (nickname, canonical_name). ``extra_ids`` names extra identifier
    columns of ``records`` (a person file's social security number), compared as
    lowercase letters and digits in feature columns ``xid_<name>``. Records
    without any name are left out: a name is the backbone of every fuzzy
    comparison. A record with only one of the two (a FEBRL record with its given
    name missing) stays: its name comparison falls to the null level, neutral,
    and its birth date, address and identifiers carry the evidence.
    """
    available = set(records.column_names)
    missing = [c for c in (*REQUIRED_COLUMNS, *extra_ids) if c not in available]
    if missing:
        raise ValueError(f"person records lack required column(s): {', '.join(missing)}")
    for column in ("nickname", "canonical_name"):
        if column not in nicknames.column_names:
            raise ValueError(f"nickname lookup lacks column {column!r}")

    def _validity(flag: str) -> str:
        return f"coalesce(cast({flag} as boolean), true)" if flag in available else "true"

    xid_select = "".join(
        f"nullif(regexp_replace(lower(cast({c} as varchar)), '[^a-z0-9]', '', 'g'), '') "
        f"as xid_{c}, "
        for c in extra_ids
    )
    xid_pass = "".join(f"b.xid_{c}, " for c in extra_ids)
    _email_lower = f"lower(trim({_column_or_null(available, 'email')}))"
    _email_repaired = (
        f"regexp_replace(regexp_replace({_email_lower}, '\\s+', '', 'g'), '@+', '@', 'g')"
    )
    con.register("__fuzzy_records_in", records)
    con.register("__fuzzy_nicknames_in", nicknames)
    birth_date = (
        _birth_date_sql("birth_date") if "birth_date" in available else "cast(null as varchar)"
    )
    digits = "regexp_replace(left(cast(birth_date as varchar), 10), '[^0-9]', '', 'g')"
    birth_digits = (
        f"case when length({digits}) between 7 and 9 then {digits} end"
        if "birth_date" in available
        else "cast(null as varchar)"
    )
    con.execute(
        f"""
        create or replace temp table __fuzzy_nicknames as
        with cleaned as (
            select distinct
                {_name_sql("nickname")} as nickname,
                {_name_sql("canonical_name")} as canonical_name,
            from __fuzzy_nicknames_in
        ),
        -- a canonical name is also an alias of itself, so 'robert' and 'bob'
        -- share the alias 'robert'
        aliases as (
            select nickname as name, canonical_name as alias from cleaned
            union
            select canonical_name as name, canonical_name as alias from cleaned
        )
        select name, list(alias order by alias) as aliases, min(alias) as first_alias,
        from aliases
        where name is not null and alias is not null
        group by name
        """
    )
    con.execute(
        f"""
        create or replace temp table __fuzzy_base as
        with source as (
            select
                cast(source as varchar) as source,
                cast(source_record_id as varchar) as source_record_id,
                {_name_sql("first_name")} as first_name,
                {_name_sql("last_name")} as last_name,
                {birth_date} as birth_date,
                {birth_digits} as birth_digits,
                {_street_sql(_column_or_null(available, "street"))} as street,
                {xid_select}
                nullif(upper(regexp_replace(
                    {_column_or_null(available, "postcode")}, '[^A-Za-z0-9]', '', 'g'
                )), '') as postcode,
                {_name_sql(_column_or_null(available, "city"))} as city,
                -- values staging flagged invalid take no part in matching, but
                -- a slip of the keyboard (a doubled @, a space) is repaired:
                -- 'camille32 @hotmail.com' is plainly camille32@hotmail.com. It
                -- stays invalid for sending and deterministic links (staging).
                -- A broken address no repair makes whole still tells its local
                -- part, the number in it and its domain ('leonard.varela@vega-motors'
                -- works at Vega Motors): email_parts keeps it, email does not.
                {_validity("email_is_valid")} as email_flagged_valid,
                case when {_validity("email_is_valid")} then
                    nullif(lower(trim({_column_or_null(available, "email")})), '')
                    when not {_email_syntax_sql(_email_lower)}
                     and contains({_email_repaired}, '@')
                    then {_email_repaired}
                end as email_parts,
                {_company_sql(_column_or_null(available, "company"))} as company_key,
                case when {_validity("phone_is_valid")} then nullif(regexp_replace(
                    {_column_or_null(available, "phone")}, '[^0-9]', '', 'g'
                ), '') end as phone_raw_digits,
            from __fuzzy_records_in
        ),
        derived as (
            select
                *,
                case when email_flagged_valid or {_email_syntax_sql("email_parts")}
                    then email_parts end as email,
                -- the local part without dots or +tags: 'Jean.Dupont+shop@x'
                -- and 'jeandupont@y' share 'jeandupont'
                nullif(regexp_replace(
                    split_part(split_part(email_parts, '@', 1), '+', 1), '[^a-z0-9]', '', 'g'
                ), '') as email_local_raw,
                -- the national significant number: the last 9 digits match across
                -- '+33 6 12 ..' and '06 12 ..'
                case when length(phone_raw_digits) >= 6
                    then right(phone_raw_digits, 9) end as phone_digits_raw,
                -- the number people put in their addresses (a birth year, often:
                -- 'maxime_lefebvre83@', 'lefebvre.maxime832@'), 2 to 4 digits
                regexp_replace(split_part(email_parts, '@', 1), '[^0-9]', '', 'g')
                    as email_local_digits,
                case when length(email_local_digits) between 2 and 4
                    then email_local_digits end as email_number,
                -- the domain without its top-level part: 'granit-btp.fr' -> 'granitbtp'
                nullif(regexp_replace(
                    split_part(split_part(email_parts, '@', 2), '.', 1), '[^a-z0-9]', '', 'g'
                ), '') as email_domain_key,
            from source
            where source is not null
              and source_record_id is not null
              and (first_name is not null or last_name is not null)
        )
        select * from derived
        """
    )
    birthday_initials = "substr(birth_date, 6, 5) || left(first_name, 1) || left(last_name, 1)"
    providers = ", ".join(f"'{p}'" for p in PERSONAL_EMAIL_PROVIDERS)
    roles = ", ".join(f"'{r}'" for r in ROLE_MAILBOXES)
    con.execute(
        f"""
        create or replace table {table_name} as
        with hub_email_local as (
            select email_local_raw from __fuzzy_base
            where email_local_raw is not null
            group by email_local_raw having count(*) > {int(max_records_per_value)}
        ),
        -- a domain most records share and no record names as a company is a
        -- mailbox provider the list above lacks
        provider_domain as (
            select email_domain_key from __fuzzy_base
            where email_domain_key is not null
            group by email_domain_key
            having count(*) > greatest(
                    {int(max_records_per_value)},
                    {float(EMPLOYER_DOMAIN_MAX_SHARE)} * (select count(*) from __fuzzy_base)
                )
               and email_domain_key not in (
                   select company_key from __fuzzy_base where company_key is not null
               )
        ),
        -- a full name more records share is a common name: no block of its own
        hub_full_name as (
            select coalesce(n.first_alias, b.first_name) as first_name_key, b.last_name
            from __fuzzy_base as b
            left join __fuzzy_nicknames as n on n.name = b.first_name
            where b.first_name is not null and b.last_name is not null
            group by all having count(*) > {int(max_records_per_value)}
        ),
        hub_phone as (
            select phone_digits_raw from __fuzzy_base
            where phone_digits_raw is not null
            group by phone_digits_raw having count(*) > {int(max_records_per_value)}
        ),
        final as (
            select
                b.source || '|' || b.source_record_id as unique_id,
                b.source,
                b.source_record_id,
                b.first_name,
                b.last_name,
                coalesce(n.first_alias, b.first_name) as first_name_key,
                -- null without a first name, so two missing names are no nickname pair
                case when b.first_name is not null
                    then coalesce(n.aliases, [b.first_name]) end as first_name_aliases,
                -- the full name for blocking, blank when it is a common name
                -- (Marie Martin): a block's size stays bounded however many
                -- records there are
                case when hf.last_name is null and b.first_name is not null
                    then coalesce(n.first_alias, b.first_name) || ' ' || b.last_name
                end as full_name_key,
                -- both names in alphabetical order: equal when the names agree
                -- in either order (a swap)
                case when b.first_name is not null and b.last_name is not null
                    then least(b.first_name, b.last_name) || ' '
                        || greatest(b.first_name, b.last_name)
                end as name_pair,
                b.birth_date,
                b.birth_digits,
                b.street,
                -- '12b rue pasteur' -> '12b' and 'rue pasteur', so a typo in either
                -- part can be told from a neighbour's address
                nullif(regexp_extract(b.street, '^([0-9]+[a-z]?) ', 1), '') as street_number,
                coalesce(
                    nullif(regexp_replace(b.street, '^[0-9]+[a-z]? ', ''), ''), b.street
                ) as street_name,
                b.postcode,
                b.city,
                b.email,
                b.company_key,
                b.email_number,
                -- the address up to its top-level domain: 'gaetan.brown@@orange.com'
                -- repaired is gaetan.brown@orange.com, the same mailbox as
                -- gaetan.brown@orange.fr give or take a slip
                case when b.email_local_raw is not null and b.email_domain_key is not null
                    then b.email_local_raw || '@' || b.email_domain_key end as email_mailbox,
                left(b.email_number, 2) as email_number_prefix,
                {xid_pass}
                -- a local part made of the person's name (jean.martin, jmartin85)
                -- says nothing the name comparison has not said: homonyms share
                -- it too. Only other local parts (jdoe1985 for Marie Curie) count.
                case when he.email_local_raw is null
                     and length(b.email_local_raw) >= 3
                     and not (length(b.last_name) >= 3
                              and contains(b.email_local_raw, b.last_name))
                     and not (length(b.first_name) >= 3
                              and contains(b.email_local_raw, b.first_name))
                    then b.email_local_raw end as email_local,
                case when hp.phone_digits_raw is null
                     -- one digit repeated (000000000) is a placeholder
                     and replace(b.phone_digits_raw, left(b.phone_digits_raw, 1), '') <> ''
                    then b.phone_digits_raw end as phone_digits,
                -- the domain of a work address (not a mailbox provider's)
                case when b.email_domain_key not in ({providers})
                      and pd.email_domain_key is null
                    then b.email_domain_key end as work_domain,
                -- the local part of the person's own address at work (no role
                -- mailbox); the local part, as a repaired address may have lost
                -- its top-level domain ('x@@pixelco.com' for x@pixelco.fr)
                case when work_domain is not null
                      and regexp_replace(split_part(b.email_parts, '@', 1), '[^a-z]', '', 'g')
                          not in ({roles})
                    then split_part(b.email_parts, '@', 1) end as own_work_local,
            from __fuzzy_base as b
            left join __fuzzy_nicknames as n on n.name = b.first_name
            left join hub_email_local as he on he.email_local_raw = b.email_local_raw
            left join hub_phone as hp on hp.phone_digits_raw = b.phone_digits_raw
            left join hub_full_name as hf
                on hf.first_name_key = coalesce(n.first_alias, b.first_name)
                and hf.last_name = b.last_name
            left join provider_domain as pd on pd.email_domain_key = b.email_domain_key
        )
        -- where the person works: the company named, else the work domain
        select * exclude (company_key), coalesce(company_key, work_domain) as employer,
            -- the birth date and one initial, for a mover whose names are both
            -- mistyped past their first letter; blank when more records share
            -- the key than a block may hold (a placeholder date, a large file)
            {_bounded_key("birth_date || left(last_name, 1)", max_records_per_value)}
                as birth_date_last_initial,
            {_bounded_key("birth_date || left(first_name, 1)", max_records_per_value)}
                as birth_date_first_initial,
            -- the day and month of birth with both initials, for a year mistyped
            -- on top of the rest
            {_bounded_key(birthday_initials, max_records_per_value)} as birthday_initials,
            -- the street without its house number, within its postcode
            {_bounded_key("street_name || '|' || postcode", max_records_per_value)}
                as street_name_postcode,
        from final
        """
    )
    con.unregister("__fuzzy_records_in")
    con.unregister("__fuzzy_nicknames_in")
    return table_name
