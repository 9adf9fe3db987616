"""The shape of the Fellegi-Sunter model: comparisons, their levels, blocking rules.

This is the part a person designs; the numbers (m and u probabilities, the prior)
are estimated from data by :mod:`identity.fuzzy.training` and saved
with this shape in ``dbt_project/fuzzy/splink_model.json``.

Each comparison groups the columns that describe one fact (the name, the birth
date, the address, the e-mail, the phone) so that their levels are mutually
exclusive and read like an explanation: "last name exact, first name is a
nickname". Levels go from most to least similar; Splink assigns each pair the
first level whose condition holds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

logger = logging.getLogger(__name__)

# Name similarity cut-offs (Jaro-Winkler on lowercase ASCII letters).
NAME_TYPO_JW = 0.92
NAME_FUZZY_JW = 0.88
STREET_FUZZY_JW = 0.90
BOTH_NAMES_GATE_JW = 0.80

COMPARISON_NAMES: tuple[str, ...] = ("name", "birth_date", "address", "email", "phone", "employer")

# Labels of name levels other modules name (contradictions, dbt macros).
FIRST_NAME_MISSING = "first name missing, last name agrees"
LAST_NAME_MISSING = "last name missing, first name agrees"
FIRST_NAME_INITIAL = "last name exact, first name an initial of the other"
NAMES_TWO_EDITS = "last name exact, first name two edits apart"
BOTH_NAMES_TWO_EDITS = "first and last name each two edits apart"

# Levels that contradict a match whatever the other evidence says: two people
# of one family (same last name, another first name: twins, siblings; or names
# with nothing alike, sharing the household's address and landline) or two
# birth dates that differ by more than a typo (parent and child of the same
# name), or two different addresses at one employer's domain (colleagues with
# look-alike names). Fellegi-Sunter adds evidence up, so a shared address, phone and last
# name can outvote them; a pair at such a level never merges on its score alone
# and goes to the review queue instead. Keyed by comparison, then level label.
CONTRADICTIONS: dict[str, dict[str, str]] = {
    "name": {
        # one record without a first name, the last name agreeing: one person, or
        # anyone of the household (UNLESS below: the birth dates must agree)
        FIRST_NAME_MISSING: "first_name_missing",
        "last name exact, first name different": "first_name_differs",
        # nothing alike in the names: the address and landline of a household
        "All other comparisons": "name_differs",
    },
    "birth_date": {"All other comparisons": "birth_date_differs"},
    "email": {"another address at the same work domain": "work_address_differs"},
}

# Names written badly are not other names. The name levels above are exact,
# nickname, one typo or Jaro-Winkler similar; what falls below them is not always
# another person: an initial ('A.' / 'Adrian'), an OCR or phonetic respelling two
# edits away ('Rnary' / 'Mary', 'Alphons' / 'Alfons'), a double-barrelled last
# name shortened ('Cochran' / 'Cochran-Hermighausen'). A relative (a twin, a
# sibling) carries another name, not a garbled copy of the same one. So a name
# contradiction holds only when the names are not compatible in this sense; the
# pair's score (which already counts the names as different) must still reach the
# match threshold on the other fields. Conditions on Splink's columns (features.py:
# lowercase ASCII letters); keyed like CONTRADICTIONS.
FIRST_NAMES_COMPATIBLE = (
    "((length(first_name_l) = 1 and starts_with(first_name_r, first_name_l))"
    " or (length(first_name_r) = 1 and starts_with(first_name_l, first_name_r))"
    " or (least(length(first_name_l), length(first_name_r)) >= 4"
    " and damerau_levenshtein(first_name_l, first_name_r) <= 2))"
)
LAST_NAMES_COMPATIBLE = (
    "(damerau_levenshtein(last_name_l, last_name_r) <= 2"
    " or (least(length(last_name_l), length(last_name_r)) >= 4"
    " and (starts_with(last_name_l, last_name_r) or starts_with(last_name_r, last_name_l)"
    " or ends_with(last_name_l, last_name_r) or ends_with(last_name_r, last_name_l))))"
)
# Birth dates that agree but for a typo (the first two birth-date levels).
BIRTH_DATES_AGREE = (
    "(birth_digits_l = birth_digits_r or damerau_levenshtein(birth_digits_l, birth_digits_r) <= 1)"
)
CONTRADICTION_UNLESS: dict[str, dict[str, str]] = {
    "name": {
        FIRST_NAME_MISSING: BIRTH_DATES_AGREE,
        "last name exact, first name different": FIRST_NAMES_COMPATIBLE,
        "All other comparisons": f"({FIRST_NAMES_COMPATIBLE} and {LAST_NAMES_COMPATIBLE})",
    },
}


def _jw(column: str, threshold: float) -> str:
    return f"jaro_winkler_similarity({column}_l, {column}_r) >= {threshold}"


def _lev(column: str, distance: int) -> str:
    return f"levenshtein({column}_l, {column}_r) <= {distance}"


def _dl(column: str, distance: int) -> str:
    return f"damerau_levenshtein({column}_l, {column}_r) <= {distance}"


def _dl1_gated(column: str) -> str:
    """Damerau-Levenshtein distance at most 1, gated by a test it implies.

    u sampling runs every level on millions of random pairs, and DuckDB's
    Damerau-Levenshtein is its costliest function (5x the gated form on 2M
    birth-date pairs). One edit (substitution, insertion, deletion,
    transposition) at position p leaves the first three characters untouched when
    p >= 3, and the last three when p <= 2 and both strings have 7 or more; so
    the gate never drops a pair within one edit, and only pairs passing it pay
    for the distance. Shorter strings skip the gate.
    """
    c = column
    return (
        f"((left({c}_l, 3) = left({c}_r, 3) or right({c}_l, 3) = right({c}_r, 3)"
        f" or least(length({c}_l), length({c}_r)) < 7) and {_dl(c, 1)})"
    )


# list_has_any, not len(list_intersect()) > 0: true on the same pairs, without
# building the intersection on each of the millions of pairs u sampling scores
NICKNAME = "list_has_any(first_name_aliases_l, first_name_aliases_r)"

# Term-frequency adjustments (Splink's, as in its documented examples): a last
# name agreeing counts by how often that name occurs in the records being scored,
# so "Wróblewski" agreeing weighs more than "Smith". scoring.py counts each name's
# share of the *people* in the warehouse's person records at each build (records
# of one name and birth date count once: a person's own duplicates do not make
# their name common), and Splink moves the level's weight by log2(u of the exact
# last-name level below / that share). On the levels where the last name agrees
# exactly and the first name is a nickname or a typo. Not on "first name
# different" (a rare family name says nothing about two first names: twins share
# it), nor on the exact full name: almost every full name is carried by one
# person (frequency 1 / people, whatever the name), so the adjustment only
# replaced the level's estimated u by that cruder figure (measured: recall on
# the independent person files 0.9326 with it, 0.9328 without); a common full
# name is blanked from blocking instead (features.py).
NAME_TF_WEIGHT = 1.0


# Share of true matches where one record lacks one of the names (a form without
# the first name, a contact entered with the given name only) while the other
# name agrees; and where one first name is the other's initial (C. / Christine).
# Fixed rather than estimated, like BIRTH_DATE_ONE_PART_OFF_M: the sample data
# never drops a name nor writes an initial, so EM would learn that such a pair
# is never one person, and person files from other sources show a few percent.
# The u side is estimated from the data, as for every level.
ONE_NAME_MISSING_M = 0.02
FIRST_NAME_INITIAL_M = 0.01


def name_comparison() -> cl.CustomComparison:
    first_close = f"({_dl('first_name', 1)} or {_jw('first_name', NAME_TYPO_JW)})"
    last_close = f"({_dl('last_name', 2)} or {_jw('last_name', NAME_TYPO_JW)})"
    initial = (
        "((length(first_name_l) = 1 and starts_with(first_name_r, first_name_l))"
        " or (length(first_name_r) = 1 and starts_with(first_name_l, first_name_r)))"
    )
    return cl.CustomComparison(
        output_column_name="name",
        comparison_description="First and last name together (typos, nicknames, swaps)",
        comparison_levels=[
            # one name missing on one side is evidence when the other agrees (a
            # neutral null level would ignore it); a household shares its last
            # name, so that level contradicts a match unless the birth dates
            # agree (CONTRADICTIONS)
            cll.CustomLevel(
                f"(first_name_l is null or first_name_r is null) and {last_close}",
                label_for_charts=FIRST_NAME_MISSING,
            ).configure(m_probability=ONE_NAME_MISSING_M, fix_m_probability=True),
            cll.CustomLevel(
                f"(last_name_l is null or last_name_r is null)"
                f" and (first_name_l = first_name_r or {NICKNAME} or {first_close})",
                label_for_charts=LAST_NAME_MISSING,
            ).configure(m_probability=ONE_NAME_MISSING_M, fix_m_probability=True),
            cll.Or(cll.NullLevel("first_name"), cll.NullLevel("last_name")),
            # first and last name equal in either order: one sorted pair
            cll.CustomLevel(
                "name_pair_l = name_pair_r",
                label_for_charts="first and last name exact (either order)",
            ),
            cll.CustomLevel(
                f"last_name_l = last_name_r and {NICKNAME}",
                label_for_charts="last name exact, first name nickname",
            ).configure(tf_adjustment_column="last_name", tf_adjustment_weight=NAME_TF_WEIGHT),
            cll.CustomLevel(
                f"last_name_l = last_name_r and {first_close}",
                label_for_charts="last name exact, first name typo",
            ).configure(tf_adjustment_column="last_name", tf_adjustment_weight=NAME_TF_WEIGHT),
            cll.CustomLevel(
                f"last_name_l = last_name_r and {initial}",
                label_for_charts=FIRST_NAME_INITIAL,
            ).configure(
                m_probability=FIRST_NAME_INITIAL_M,
                fix_m_probability=True,
                tf_adjustment_column="last_name",
                tf_adjustment_weight=NAME_TF_WEIGHT,
            ),
            cll.CustomLevel(
                f"(first_name_l = first_name_r or {NICKNAME}) and {last_close}",
                label_for_charts="first name exact or nickname, last name typo",
            ),
            cll.CustomLevel(
                f"({_jw('first_name', NAME_FUZZY_JW)} and {_jw('last_name', NAME_FUZZY_JW)})"
                f" or (jaro_winkler_similarity(first_name_l, last_name_r) >= {NAME_FUZZY_JW}"
                f" and jaro_winkler_similarity(last_name_l, first_name_r) >= {NAME_FUZZY_JW})",
                label_for_charts="first and last name similar (either order)",
            ),
            # an OCR or phonetic respelling (rn/m, li/h, ph/f) is two edits: past
            # the typo levels, short of another name (both of 4 letters or more).
            # The last name's equality first: random pairs (u sampling) stop there
            # instead of each paying for an edit distance
            cll.CustomLevel(
                "last_name_l = last_name_r"
                " and least(length(first_name_l), length(first_name_r)) >= 4"
                f" and {_lev('first_name', 2)}",
                label_for_charts=NAMES_TWO_EDITS,
            ).configure(tf_adjustment_column="last_name", tf_adjustment_weight=NAME_TF_WEIGHT),
            # both names respelled. u sampling runs every level on millions of
            # random pairs, and DuckDB's Damerau-Levenshtein costs about fifteen
            # times a Jaro-Winkler similarity (Levenshtein: a third of that): a
            # similar last name gates it, Levenshtein counts the edits
            cll.CustomLevel(
                f"{_jw('last_name', BOTH_NAMES_GATE_JW)}"
                " and least(length(last_name_l), length(last_name_r)) >= 4"
                " and least(length(first_name_l), length(first_name_r)) >= 4"
                f" and {_lev('last_name', 2)} and {_lev('first_name', 2)}",
                label_for_charts=BOTH_NAMES_TWO_EDITS,
            ),
            cll.CustomLevel(
                "last_name_l = last_name_r",
                label_for_charts="last name exact, first name different",
            ),
            cll.ElseLevel(),
        ],
    )


# Share of true matches whose birth dates differ in one part beyond a typo (the
# year one off, another day of the month). Fixed rather than estimated: the
# sample data only mistypes one digit, so EM would learn that such a pair is never
# one person, and people re-typing a date do make these slips (person files
# from other sources show a few percent). The u side is estimated from the data.
BIRTH_DATE_ONE_PART_OFF_M = 0.03
# The same for a year one off whose day was retyped too (1972-10-31 / 1973-10-28),
# Splink's "within a year" level kept to the same month: weaker, as strangers
# land there more often (one pair in ~400 rather than ~1,200).
BIRTH_DATE_YEAR_OFF_SAME_MONTH_M = 0.01


def birth_date_comparison() -> cl.CustomComparison:
    swapped = (
        "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
        " and substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
        " and substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)"
    )
    year_apart_any_day = (
        "abs(try_cast(left(birth_date_l, 4) as integer)"
        " - try_cast(left(birth_date_r, 4) as integer)) = 1"
    )
    year_apart = f"substr(birth_date_l, 6, 5) = substr(birth_date_r, 6, 5) and {year_apart_any_day}"
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="Date of birth as YYYY-MM-DD (its digits for typos)",
        comparison_levels=[
            cll.NullLevel("birth_digits"),
            cll.ExactMatchLevel("birth_date"),
            # on the digits, so a digit typed twice or dropped (199860716) counts
            cll.CustomLevel(
                f"{_dl1_gated('birth_digits')} or ({swapped})",
                label_for_charts="one character typo or day and month swapped",
            ),
            # one part entered wrong: the year one off (1979 for 1980, two digits),
            # or another day of the same month; a parent and child differ by years
            cll.CustomLevel(
                f"({year_apart}) or left(birth_date_l, 7) = left(birth_date_r, 7)",
                label_for_charts="year one apart or another day of the same month",
            ).configure(m_probability=BIRTH_DATE_ONE_PART_OFF_M, fix_m_probability=True),
            cll.CustomLevel(
                f"substr(birth_date_l, 6, 2) = substr(birth_date_r, 6, 2) and ({year_apart_any_day})",
                label_for_charts="year one apart in the same month",
            ).configure(m_probability=BIRTH_DATE_YEAR_OFF_SAME_MONTH_M, fix_m_probability=True),
            cll.ElseLevel(),
        ],
    )


def address_comparison() -> cl.CustomComparison:
    null_side = "(street_{s} is null and postcode_{s} is null and city_{s} is null)"
    same_place = "(postcode_l = postcode_r or city_l = city_r)"
    return cl.CustomComparison(
        output_column_name="address",
        comparison_description="Postal address: street (house number and name), postcode, city",
        comparison_levels=[
            cll.CustomLevel(
                f"{null_side.format(s='l')} or {null_side.format(s='r')}",
                label_for_charts="address missing",
            ).configure(is_null_level=True),
            cll.CustomLevel(
                "street_l = street_r and (postcode_l = postcode_r or city_l = city_r)",
                label_for_charts="same street and postcode or city",
            ),
            # a typo in the street name or in the house number; a neighbour (same
            # street, another number) is no more than "same postcode"
            cll.CustomLevel(
                f"street_number_l = street_number_r and {_jw('street_name', STREET_FUZZY_JW)}"
                f" and {same_place}",
                label_for_charts="same house number, street name typo, same postcode or city",
            ),
            cll.CustomLevel(
                f"street_name_l = street_name_r and {_dl('street_number', 1)} and {same_place}",
                label_for_charts="same street name, house number typo, same postcode or city",
            ),
            cll.CustomLevel("postcode_l = postcode_r", label_for_charts="same postcode"),
            cll.CustomLevel("city_l = city_r", label_for_charts="same city"),
            cll.ElseLevel(),
        ],
    )


def email_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="email",
        comparison_description="E-mail address and its local part",
        comparison_levels=[
            cll.NullLevel("email"),
            cll.ExactMatchLevel("email"),
            cll.CustomLevel(
                "email_mailbox_l = email_mailbox_r",
                label_for_charts="same address but the top-level domain or dots",
            ),
            cll.CustomLevel("email_local_l = email_local_r", label_for_charts="same local part"),
            # an employer gives each person one address: two at one company's
            # domain are two colleagues (luc.morel@ and lucas.morel@), even one
            # letter apart (alexandre.x@ and alexandra.x@); a mistyped address
            # goes to the review queue with them (CONTRADICTIONS). Role mailboxes
            # (info@) are nobody's own address and do not count
            cll.CustomLevel(
                "work_domain_l = work_domain_r and own_work_local_l <> own_work_local_r",
                label_for_charts="another address at the same work domain",
            ),
            # one number starts the other ('83' and '832'): a person keeps the
            # number from address to address, strangers rarely share it
            cll.CustomLevel(
                "starts_with(email_number_l, email_number_r)"
                " or starts_with(email_number_r, email_number_l)",
                label_for_charts="another address with the same number",
            ),
            cll.ElseLevel(),
        ],
    )


def phone_comparison() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="phone",
        comparison_description="Phone: last nine digits of the number",
        comparison_levels=[
            cll.NullLevel("phone_digits"),
            cll.ExactMatchLevel("phone_digits"),
            cll.ElseLevel(),
        ],
    )


# Share of true matches, both sides naming an employer, that name the same one.
# Fixed rather than estimated: the sample data never changes anyone's job, so EM
# would learn that a different employer rules a match out, and real people do
# change jobs (or list a side business). The u side is estimated from the data.
EMPLOYER_SAME_M = 0.8


def employer_comparison() -> cl.CustomComparison:
    """Where the person works (features.py: the company named, else the domain of
    a work address). Weak alone, since colleagues share it; with a name it tells
    the form filled in from a personal address from the CRM contact at work."""
    return cl.CustomComparison(
        output_column_name="employer",
        comparison_description="Employer: company name or work e-mail domain",
        comparison_levels=[
            cll.NullLevel("employer"),
            cll.ExactMatchLevel("employer").configure(
                m_probability=EMPLOYER_SAME_M, fix_m_probability=True
            ),
            cll.ElseLevel().configure(m_probability=1 - EMPLOYER_SAME_M, fix_m_probability=True),
        ],
    )


def id_column(name: str) -> str:
    """Feature column of an extra identifier column (see features.prepare_features)."""
    return f"xid_{name}"


def document_id_comparison(name: str) -> cl.CustomComparison:
    """An extra identifier of a person file (a social security or member number):
    exact, one character off (a typo), or different."""
    column = id_column(name)
    return cl.CustomComparison(
        output_column_name=column,
        comparison_description=f"Identifier column {name}",
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            cll.CustomLevel(_dl(column, 1), label_for_charts="one character typo"),
            cll.ElseLevel(),
        ],
    )


def blocking_rules(extra_ids: Sequence[str] = (), broad: bool = False) -> list:
    """Pairs that are scored: the union of these equi-joins (near-linear in records).

    Every plausible duplicate agrees exactly on at least one of them unless it
    differs on nearly everything; hub values are blanked upstream (features.py)
    so no key here forms a giant block. The full name blocks only when it is
    rare (``full_name_key``): a common name (Marie Martin) would form a block
    that grows with the square of the data.
    """
    return [
        block_on("last_name", "birth_date"),
        block_on("first_name_key", "birth_date"),
        block_on("birth_date", "postcode"),
        block_on("last_name", "postcode"),
        block_on("first_name_key", "postcode"),
        # the same address, when the birth date is missing and a name is typo'd
        block_on("street", "postcode"),
        block_on("last_name", "street"),
        block_on("first_name_key", "street"),
        # swapped first and last name
        "l.first_name = r.last_name and l.last_name = r.first_name",
        # a mover whose birth date was retyped wrong: the full name alone, unless
        # it is a common one (features.py blanks a name many records share)
        block_on("full_name_key"),
        # names garbled on both sides: the birth date and the house number, or
        # the house number and the postcode
        block_on("birth_date", "street_number"),
        block_on("street_number", "postcode"),
        # a mover whose names are both mistyped past their first letter: the
        # birth date and one initial (features.py blanks a key shared by more
        # records than a block may hold)
        block_on("birth_date_last_initial"),
        block_on("birth_date_first_initial"),
        # a year mistyped as well: the day, the month and both initials
        block_on("birthday_initials"),
        # a mover's house number mistyped and both names garbled: the street
        # name within its postcode (blank when a street holds more records
        # than a block may)
        block_on("street_name_postcode"),
        block_on("email_local"),
        block_on("email_mailbox"),
        block_on("phone_digits"),
        # a work contact and the same person's private sign-up: no address or
        # birth date on the form, only the name and the company
        block_on("last_name", "employer"),
        block_on("first_name_key", "employer"),
        # private addresses that carry the same number (a birth year)
        block_on("last_name", "email_number_prefix"),
        *(block_on(id_column(name)) for name in extra_ids),
        *(broad_blocking_rules() if broad else []),
    ]


def broad_blocking_rules() -> list:
    """More pairs for a person file (``ferry fuzzy evaluate-file``), where a
    duplicate may differ in three fields at once and share no identifier: the
    full name, the birth date alone (rules on a town added no pair that these
    and the warehouse rules miss, on FEBRL-style files). Not used
    on the warehouse, where a common name or birth date gathers blocks that grow
    with the square of the data."""
    return [
        block_on("first_name_key", "last_name"),
        block_on("birth_date"),
    ]


def training_blocking_rules(extra_ids: Sequence[str] = ()) -> list:
    """EM sessions: each leaves out the comparisons its blocking rule uses.

    - birth date: estimates name, address, e-mail and phone;
    - e-mail address: estimates name, birth date, address and phone;
    - name and postcode: estimates birth date, e-mail and phone.
    Blocks are chosen to hold few look-alike strangers: blocking on a phone
    gathers households (shared landline, same last name and address), and on a
    name alone the many strangers who share one; EM would then take a family
    member's different first name or birth date for something matches do.
    """
    return [
        block_on("birth_date"),
        block_on("email"),
        block_on("first_name_key", "last_name", "postcode"),
        # an extra identifier of a person file: estimates all the others
        *(block_on(id_column(name)) for name in extra_ids),
    ]


# Assumed share of true matches that deterministic_rules_for_prior finds; the
# prior (the probability that two random records match) is the rate of those
# near-certain pairs divided by it.
PRIOR_RECALL = 0.7


def deterministic_rules_for_prior(extra_ids: Sequence[str] = ()) -> list:
    """Near-certain matches, used to estimate the prior probability of a match."""
    return [
        block_on("first_name", "last_name", "birth_date"),
        block_on("email"),
        *(block_on(id_column(name), "last_name") for name in extra_ids),
    ]


def settings(extra_ids: Sequence[str] = (), broad: bool = False) -> SettingsCreator:
    """The untrained model: what training starts from.

    ``extra_ids`` adds one comparison per extra identifier column of a person
    file (``ferry fuzzy evaluate-file --id-columns``) and ``broad`` its extra
    blocking rules; the warehouse model has neither.
    """
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            name_comparison(),
            birth_date_comparison(),
            address_comparison(),
            email_comparison(),
            phone_comparison(),
            employer_comparison(),
            *(document_id_comparison(name) for name in extra_ids),
        ],
        blocking_rules_to_generate_predictions=blocking_rules(extra_ids, broad),
        # matching columns carry the gamma (level) columns the explanation needs
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["source", "source_record_id"],
        max_iterations=50,
        em_convergence=0.0001,
    )


# Gates for u sampling (identity/fuzzy/u_sampling.py). u is counted on millions
# of random pairs, nearly all of which land on a comparison's last level ("All
# other comparisons") only after every level's test has failed, Jaro-Winkler
# similarities included. A gate is a cheap test that every pair on any other
# level (null level included) passes, so a pair failing it is known to be on the
# last level without the tests: the counts are the same, only faster (on the 20k
# person file's 2M random pairs about 4% pass the name gate and 6% the birth-date
# one; u and the prior took 2.4 s without the gates, 1.5 s with them). Each gate
# reads per-record columns computed once on the sampled records (name ->
# expression; the pair sees <name>_l and <name>_r). A gate must follow its
# comparison's levels: a level added above must pass it
# (tests/fuzzy/test_u_sampling.py compares the counts with Splink's, level by level).
def _name_columns(column: str) -> dict[str, str]:
    """Per-record facts about a (lowercase ASCII letters) name: its length, its
    first letter, a bit per letter a-z it holds, how many letters it holds and
    its letters beyond one of each (so a pair's bounds cost few operations)."""
    letters = (
        f"coalesce(list_sum(list_distinct(list_transform(list_filter(string_split({column}, ''),"
        " lambda c: c between 'a' and 'z'), lambda c: 1::bigint << (ascii(c) - 97))))::bigint, 0)"
    )
    return {
        f"{column}_length": f"length({column})",
        f"{column}_initial": f"left({column}, 1)",
        f"{column}_letters": letters,
        f"{column}_distinct": f"bit_count({letters})",
        f"{column}_repeats": f"length({column}) - bit_count({letters})",
    }


def _letters_only(a: str, b: str) -> tuple[str, str]:
    """Distinct letters of name a (side l) that b (side r) lacks, and of b that a lacks."""
    shared = f"bit_count({a}_letters_l & {b}_letters_r)"
    return f"({a}_distinct_l - {shared})", f"({b}_distinct_r - {shared})"


def _jw_may_reach(a: str, b: str, threshold: str) -> str:
    """False only when jaro_winkler_similarity(<a>_l, <b>_r) < threshold.

    JW = J + l * 0.1 * (1 - J), l the common prefix (at most 4; none when the
    first letters differ), J = (m / |a| + m / |b| + (m - t) / m) / 3 <= (m / |a| +
    m / |b| + 1) / 3, and the m matching characters of a are at most its letters
    found in b: |a| less one position per distinct letter of a that b lacks (m_max
    below). So JW >= T needs m_max / |a| + m_max / |b| >= 3T - 1 when the first
    letters differ, 5T - 3 when they agree; compared in integers.
    """
    la, lb = f"{a}_length_l", f"{b}_length_r"
    # |a| - (distinct of a - shared) = shared + (|a| - distinct of a)
    m_max = f"(bit_count({a}_letters_l & {b}_letters_r) + least({a}_repeats_l, {b}_repeats_r))"

    def reaches(bound: Fraction) -> str:
        return f"{bound.denominator} * {m_max} * ({la} + {lb}) >= {bound.numerator} * {la} * {lb}"

    t = Fraction(threshold)
    return (
        f"(case when {a}_initial_l = {b}_initial_r then {reaches(5 * t - 3)}"
        f" else {reaches(3 * t - 1)} end)"
    )


def _edits_may_be_within_two(a: str) -> str:
    """False only when names <a>_l and <a>_r are more than two edits apart (plain
    or Damerau-Levenshtein): each letter one holds and the other lacks costs an
    edit, and so does each letter of length between them."""
    a_only, b_only = _letters_only(a, a)
    return f"(abs({a}_length_l - {a}_length_r) <= 2 and {a_only} <= 2 and {b_only} <= 2)"


def _name_gate() -> str:
    """Every name level but the last (in name_comparison's order) passes this.

    Ordered for the random pairs, which fail every part: each part runs only on
    the pairs the parts before it left, so the costlier bounds come last and the
    two levels that need a similar last name share one bound."""
    last_similar = _jw_may_reach("last_name", "last_name", str(BOTH_NAMES_GATE_JW))
    return " or ".join(
        [
            # a name missing: the first three levels
            "names_missing_l or names_missing_r",
            # the full name exact (either order), every "last name exact" level
            "last_name_l = last_name_r",
            "name_pair_l = name_pair_r",
            # first name exact or nickname, last name a typo (two edits or JW)
            "((first_name_l = first_name_r or first_name_alias_bits_l & first_name_alias_bits_r <> 0)"
            f" and ({_edits_may_be_within_two('last_name')}"
            f" or {_jw_may_reach('last_name', 'last_name', str(NAME_TYPO_JW))}))",
            # both names similar (JW >= 0.88 >= 0.80), or both two edits apart behind
            # a last name at JW >= 0.80
            f"({last_similar}"
            f" and (({_jw_may_reach('first_name', 'first_name', str(NAME_FUZZY_JW))}"
            f" and {_jw_may_reach('last_name', 'last_name', str(NAME_FUZZY_JW))})"
            f" or ({_edits_may_be_within_two('last_name')}"
            f" and {_edits_may_be_within_two('first_name')})))",
            # both names similar, swapped
            f"({_jw_may_reach('first_name', 'last_name', str(NAME_FUZZY_JW))}"
            f" and {_jw_may_reach('last_name', 'first_name', str(NAME_FUZZY_JW))})",
        ]
    )


U_SAMPLING_GATES: dict[str, tuple[dict[str, str], str]] = {
    "name": (
        {
            **_name_columns("first_name"),
            **_name_columns("last_name"),
            "names_missing": "first_name is null or last_name is null",
            # a bit (of 64) per alias of the first name: two names that share an
            # alias (NICKNAME) share a bit
            "first_name_alias_bits": (
                "coalesce(list_sum(list_distinct(list_transform(first_name_aliases,"
                " lambda a: 1::bigint << (hash(a) % 63)::integer)))::bigint, 0)"
            ),
        },
        _name_gate(),
    ),
    # every birth-date level but the last needs: a date missing; the same month
    # and years at most one apart (the same date; another day of the same month;
    # the year one off); the same year (day and month swapped); or digits one edit
    # apart, which leaves the first four digits or the last three untouched in
    # dates of eight digits or more (an edit at position p >= 4 keeps the first
    # four; at p <= 3 the last four, a transposition of the fourth and fifth the
    # last three)
    "birth_date": (
        {
            "bd_year": "substr(birth_date, 1, 4)",
            "bd_year_number": "try_cast(left(birth_date, 4) as integer)",
            "bd_month": "substr(birth_date, 6, 2)",
            "bd_head": "left(birth_digits, 4)",
            "bd_tail": "right(birth_digits, 3)",
            "bd_length": "length(birth_digits)",
        },
        "(birth_digits_l is null or birth_digits_r is null"
        " or (bd_month_l = bd_month_r"
        " and coalesce(abs(bd_year_number_l - bd_year_number_r) <= 1, true))"
        " or bd_year_l = bd_year_r or bd_head_l = bd_head_r or bd_tail_l = bd_tail_r"
        " or least(bd_length_l, bd_length_r) < 8)",
    ),
}


def u_sampling_gates(comparisons: Sequence[Any]) -> dict[str, tuple[dict[str, str], str]]:
    """The gates (U_SAMPLING_GATES) that hold for these comparisons (a loaded model's):
    a gate is exact only for the levels it was proven against, those this module
    builds, so a comparison whose levels differ in any way (a model file from before a
    change, or edited by hand: `fuzzy_model_path` can name any file) is counted
    without its gate, as Splink would, and a warning says so."""
    proven = {
        "name": name_comparison(),
        "birth_date": birth_date_comparison(),
    }
    gates = {}
    for comparison in comparisons:
        name = comparison.output_column_name
        if name not in U_SAMPLING_GATES:
            continue
        expected = [
            lv.sql_condition for lv in proven[name].get_comparison("duckdb").comparison_levels
        ]
        if [lv.sql_condition for lv in comparison.comparison_levels] == expected:
            gates[name] = U_SAMPLING_GATES[name]
        else:
            logger.warning(
                "u sampling: comparison %s has other levels than model_spec builds; "
                "its u is counted on every random pair (no gate), which is slower",
                name,
            )
    return gates
