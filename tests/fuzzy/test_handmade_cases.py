"""Hand-made cases through the real dbt models and the committed Splink model.

The warehouse holds only the records below (read through stubs of
int_person_records and int_identifiers, the contract the fuzzy models read); dbt builds
the fuzzy seeds and models on top, twice: once as is, once after a steward's
review file was written.
"""

from __future__ import annotations

import duckdb
import pytest

from identity.fuzzy.features import INPUT_COLUMNS
from tests.fuzzy.conftest import DbtWorkspace

COLUMNS = (*INPUT_COLUMNS, "country")

# (source, id, first, last, email, phone, birth_date, street, city, postcode[, company])
# fmt: off
RECORDS = [
    # typo in the last name, another e-mail
    ("crm_contacts", "C-1", "Catherine", "Dubois", "cath.dubois@free.fr", "+33612345001",
     "1985-03-14", "12 rue Pasteur", "Lyon", "69003"),
    ("shop_customers", "S-1", "Catherine", "Duboiss", "kdubois85@gmail.com", None,
     "1985-03-14", "12 rue Pasteur", "Lyon", "69003"),
    # nickname
    ("forms_submissions", "F-1", "Bob", "Lambert", "bob.l@orange.fr", None,
     "1972-07-01", "3 rue du Moulin", "Nantes", "44000"),
    ("shop_customers", "S-2", "Robert", "Lambert", "robert.lambert@gmail.com", None,
     "1972-07-01", "3 rue du Moulin", "Nantes", "44000"),
    # first and last name swapped
    ("support_tickets", "T-1", "Girard", "Julien", "jgirard@laposte.net", None,
     "1990-01-20", "9 rue Nationale", "Rennes", "35000"),
    ("crm_contacts", "C-2", "Julien", "Girard", "julien.girard@acme.com", None,
     "1990-01-20", "9 rue Nationale", "Rennes", "35000"),
    # moved house, kept the mobile (accents typed differently)
    ("crm_contacts", "C-3", "Hélène", "Faure", "helene.faure@sfr.fr", "+33611122233",
     "1964-11-02", "8 avenue de la Gare", "Toulouse", "31000"),
    ("shop_customers", "S-3", "Helene", "FAURE", "hfaure@outlook.com", "+33611122233",
     "1964-11-02", "40 quai de Seine", "Paris", "75011"),
    # twins: same family, birth date, address and landline, other first names
    ("shop_customers", "S-4", "Marie", "Lefevre", "marie.lefevre@gmail.com", "+33320000001",
     "2001-05-05", "5 rue des Lilas", "Lille", "59000"),
    ("crm_contacts", "C-4", "Camille", "Lefevre", "camille.lefevre@yahoo.fr", "+33320000001",
     "2001-05-05", "5 rue des Lilas", "Lille", "59000"),
    # father and son: same name and address, birth dates 29 years apart
    ("crm_contacts", "C-5", "Pierre", "Roussel", "pierre.roussel@wanadoo.fr", "+33380000002",
     "1950-02-10", "17 rue Gambetta", "Dijon", "21000"),
    ("shop_customers", "S-5", "Pierre", "Roussel", "p.roussel79@gmail.com", "+33380000002",
     "1979-09-23", "17 rue Gambetta", "Dijon", "21000"),
    # two shop accounts of one look-alike: different customer ids of one system
    ("shop_customers", "S-6", "Antoine", "Mercier", "antoine.mercier@gmail.com", None,
     "1988-08-08", "21 rue Jean Jaurès", "Bordeaux", "33000"),
    ("shop_customers", "S-7", "Antoine", "Mercierr", "amercier.pro@free.fr", None,
     "1988-08-08", "21 rue Jean Jaurès", "Bordeaux", "33000"),
    # moved within the city: same name and birth date, another street and e-mail
    ("crm_contacts", "C-6", "Sophie", "Garnier", "sophie.garnier@orange.fr", None,
     "1977-04-04", "2 impasse des Lilas", "Marseille", "13001"),
    ("forms_submissions", "F-2", "Sophie", "Garnier", "sgarnier.77@gmx.de", None,
     "1977-04-04", "60 boulevard Voltaire", "Marseille", "13008"),
    # borderline: a nickname and the same employer, nothing else: the same person
    # at work and at home, or two colleagues? for a steward to decide
    ("crm_contacts", "C-9", "Cathy", "Roux", "cathy.roux@kiwilabs.io", None,
     None, None, None, None, "Kiwi Labs"),
    ("forms_submissions", "F-6", "Catherine", "Roux", "roux.catherine@free.fr", None,
     None, None, None, None, "Kiwi Labs"),
    # at work in the CRM, and a private sign-up naming the same company
    ("crm_contacts", "C-7", "Gwendoline", "Perrot", "gwendoline.perrot@vega-motors.com",
     None, None, None, None, None, "Vega Motors SAS"),
    ("forms_submissions", "F-3", "Gwendoline", "Perrot", "gwendoline_perrot78@laposte.net",
     None, None, None, None, None, "Vega Motors"),
    # colleagues with look-alike names: two addresses at one company's domain
    ("crm_contacts", "C-8", "Luc", "Morel", "luc.morel@lumiere-studio.fr", None,
     None, None, None, None, "Lumière Studio"),
    ("forms_submissions", "F-4", "Lucas", "Morel", "lucas.morel@lumiere-studio.fr", None,
     None, None, None, None, "Lumière Studio"),
    # a doubled @ makes the form's address invalid, but it is the same mailbox
    ("support_tickets", "T-2", "Zélie", "Chevalier", "zelie.chevalier@outlook.com", None,
     None, None, None, None),
    ("forms_submissions", "F-5", "Zélie", "Chevalier", "zelie.chevalier@@outlook.com", None,
     None, None, None, None),
    # one person entered twice in the CRM by two salespeople: a typo in the first
    # name, no e-mail or phone, the same birth date and address (record ids: may merge)
    ("crm_contacts", "C-10", "Mathilde", "Bernard", None, None,
     "1983-06-12", "14 rue Victor Hugo", "Grenoble", "38000"),
    ("crm_contacts", "C-11", "Mathidle", "Bernard", None, None,
     "1983-06-12", "14 rue Victor Hugo", "Grenoble", "38000"),
    # another first name on the same birth date and street: her second given name,
    # typed by another salesperson (one part of the compound name)
    ("crm_contacts", "C-12", "Anne-Marie", "Petit", None, None,
     "1969-10-03", "7 rue Carnot", "Tours", "37000"),
    ("crm_contacts", "C-13", "Marie", "Petit", None, None,
     "1969-10-03", "7 rue Carnot", "Tours", "37000"),
    # a first name replaced by a slip, with the same employer besides
    ("crm_contacts", "C-14", "Claire", "Moulin", None, None,
     "1975-12-01", "30 avenue Foch", "Nancy", "54000", "Orion Conseil"),
    ("crm_contacts", "C-15", "Isabelle", "Moulin", None, None,
     "1975-12-01", "30 avenue Foch", "Nancy", "54000", "Orion Conseil"),
    # twins with nothing but the family's name, birth date and address: for a steward
    ("crm_contacts", "C-16", "Hugo", "Marchand", None, None,
     "1998-02-14", "11 rue Voltaire", "Angers", "49000"),
    ("crm_contacts", "C-17", "Louis", "Marchand", None, None,
     "1998-02-14", "11 rue Voltaire", "Angers", "49000"),
    # a contact entered without the first name, who has moved since: the last name
    # and the birth date agree
    ("crm_contacts", "C-18", None, "Vasseur", None, None,
     "1958-09-30", "4 rue Colbert", "Reims", "51100"),
    ("crm_contacts", "C-19", "Gilles", "Vasseur", None, None,
     "1958-09-30", "88 avenue Foch", "Metz", "57000"),
    # no first name and no birth date at a household's address: anyone of the family
    ("crm_contacts", "C-20", None, "Lemaire", None, None,
     None, "25 rue Pasteur", "Brest", "29200"),
    ("crm_contacts", "C-21", "Odile", "Lemaire", None, None,
     "1961-03-08", "25 rue Pasteur", "Brest", "29200"),
    # a first name written as its initial, the same birth date, moved since
    ("crm_contacts", "C-22", "C.", "Fontaine", None, None,
     "1971-05-19", "3 place Bellecour", "Lyon", "69002"),
    ("crm_contacts", "C-23", "Christine", "Fontaine", None, None,
     "1971-05-19", "12 rue de Metz", "Toulouse", "31000"),
    # ... and an initial that is not the other first name's
    ("crm_contacts", "C-24", "D.", "Fontaine", None, None,
     "1971-05-19", "3 place Bellecour", "Lyon", "69002"),
    # a year mistyped with the day: the same month, one year apart
    ("crm_contacts", "C-25", "Laureano", "Crawford", None, None,
     "1960-12-28", "31 rue Nationale", "Lille", "59800"),
    ("crm_contacts", "C-26", "Laureano", "Crawford", None, None,
     "1959-12-30", "31 rue Nationale", "Lille", "59800"),
    # ... two years apart is another person (a relative of the same name)
    ("crm_contacts", "C-27", "Laureano", "Crawford", None, None,
     "1962-12-30", "31 rue Nationale", "Lille", "59800"),
    # a first name read badly (rn for m: two edits), the same birth date, moved
    ("crm_contacts", "C-28", "Rneinrad", "Garza", None, None,
     "1944-06-19", "14 rue Thiers", "Caen", "14000"),
    ("crm_contacts", "C-29", "Meinrad", "Garza", None, None,
     "1944-06-19", "9 quai Vauban", "Vannes", "56000"),
    # ... a first name three edits away is another name
    ("crm_contacts", "C-30", "Konrad", "Garza", None, None,
     "1944-06-19", "9 quai Vauban", "Vannes", "56000"),
]
# fmt: on

CUSTOMER_IDS = {"crm_contacts": "crm", "shop_customers": "shop", "support_tickets": "support"}

TYPO = ("crm_contacts", "C-1", "shop_customers", "S-1")
NICKNAME = ("forms_submissions", "F-1", "shop_customers", "S-2")
SWAPPED = ("crm_contacts", "C-2", "support_tickets", "T-1")
MOVED = ("crm_contacts", "C-3", "shop_customers", "S-3")
TWINS = ("crm_contacts", "C-4", "shop_customers", "S-4")
FATHER_SON = ("crm_contacts", "C-5", "shop_customers", "S-5")
SAME_SYSTEM = ("shop_customers", "S-6", "shop_customers", "S-7")
MOVED_IN_TOWN = ("crm_contacts", "C-6", "forms_submissions", "F-2")
BORDERLINE = ("crm_contacts", "C-9", "forms_submissions", "F-6")
WORK_AND_PRIVATE = ("crm_contacts", "C-7", "forms_submissions", "F-3")
COLLEAGUES = ("crm_contacts", "C-8", "forms_submissions", "F-4")
BROKEN_EMAIL = ("forms_submissions", "F-5", "support_tickets", "T-2")
CRM_DUPLICATE = ("crm_contacts", "C-10", "crm_contacts", "C-11")
SECOND_GIVEN_NAME = ("crm_contacts", "C-12", "crm_contacts", "C-13")
REPLACED_SAME_EMPLOYER = ("crm_contacts", "C-14", "crm_contacts", "C-15")
TWINS_ALONE = ("crm_contacts", "C-16", "crm_contacts", "C-17")
FIRST_NAME_MISSING = ("crm_contacts", "C-18", "crm_contacts", "C-19")
HOUSEHOLD_FIRST_NAME_MISSING = ("crm_contacts", "C-20", "crm_contacts", "C-21")
INITIAL = ("crm_contacts", "C-22", "crm_contacts", "C-23")
OTHER_INITIAL = ("crm_contacts", "C-23", "crm_contacts", "C-24")
YEAR_OFF_SAME_MONTH = ("crm_contacts", "C-25", "crm_contacts", "C-26")
YEARS_APART = ("crm_contacts", "C-25", "crm_contacts", "C-27")
TWO_EDITS = ("crm_contacts", "C-28", "crm_contacts", "C-29")
THREE_EDITS = ("crm_contacts", "C-28", "crm_contacts", "C-30")


def _load_records(warehouse) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists test_input")
        con.execute(
            "create or replace table test_input.person_records ("
            + ", ".join(
                f"{c} {'date' if c == 'birth_date' else 'boolean' if c.endswith('_valid') else 'varchar'}"
                for c in COLUMNS
            )
            + ")"
        )
        for (
            source,
            rid,
            first,
            last,
            email,
            phone,
            birth,
            street,
            city,
            postcode,
            *company,
        ) in RECORDS:
            con.execute(
                "insert into test_input.person_records values "
                "(?, ?, ?, ?, ?, ?, ?, true, ?, ?, ?, ?, ?, 'FR')",
                [
                    source,
                    rid,
                    first,
                    last,
                    email,
                    email is not None and "@@" not in email,
                    phone,
                    birth,
                    street,
                    city,
                    postcode,
                    company[0] if company else None,
                ],
            )
        con.execute(
            "create or replace table test_input.identifiers (source varchar, source_record_id varchar, "
            "identifier_type varchar, identifier_value varchar, is_valid boolean, invalid_reason varchar, "
            "observed_at timestamp)"
        )
        for source, rid, *_ in RECORDS:
            if source in CUSTOMER_IDS:
                con.execute(
                    "insert into test_input.identifiers values (?, ?, 'customer_id', ?, true, null, null)",
                    [source, rid, f"{CUSTOMER_IDS[source]}:{rid}"],
                )


def _pairs(ws: DbtWorkspace, sql: str) -> set[tuple[str, str, str, str]]:
    return {tuple(r[:4]) for r in ws.query(sql)}


def _status(ws: DbtWorkspace) -> dict[tuple[str, str, str, str], str]:
    rows = ws.query(
        "select source_a, source_record_id_a, source_b, source_record_id_b, link_status "
        "from intermediate.int_fuzzy_link_decisions"
    )
    return {tuple(r[:4]): r[4] for r in rows}


@pytest.fixture(scope="module")
def first_run(fuzzy_workspace: DbtWorkspace) -> DbtWorkspace:
    _load_records(fuzzy_workspace.warehouse)
    fuzzy_workspace.write_decisions([])
    fuzzy_workspace.build_fuzzy()
    return fuzzy_workspace


EDGES = (
    "select source_a, source_record_id_a, source_b, source_record_id_b, match_probability, edge_type "
    "from intermediate.int_fuzzy_edges"
)


@pytest.mark.parametrize(
    "pair",
    [TYPO, NICKNAME, SWAPPED, MOVED, MOVED_IN_TOWN, WORK_AND_PRIVATE, BROKEN_EMAIL, CRM_DUPLICATE],
    ids=[
        "typo",
        "nickname",
        "swapped",
        "moved",
        "moved_in_town",
        "work_and_private",
        "broken_email",
        "crm_duplicate",
    ],
)
def test_same_person_is_linked(first_run: DbtWorkspace, pair) -> None:
    edges = {tuple(r[:4]): r for r in first_run.query(EDGES)}
    assert pair in edges, _status(first_run).get(pair, "not scored")
    assert edges[pair][4] >= 0.8  # fuzzy_match_threshold's default
    assert edges[pair][5] == "fuzzy"


def test_colleagues_with_look_alike_names_are_not_linked(first_run: DbtWorkspace) -> None:
    assert COLLEAGUES not in _pairs(first_run, EDGES)
    row = first_run.query(
        "select email_level, contradiction from intermediate.int_fuzzy_link_decisions "
        f"where source_record_id_a = '{COLLEAGUES[1]}' and source_record_id_b = '{COLLEAGUES[3]}'"
    )
    # scored or not, never merged; when scored, the reason is the two work addresses
    assert row in ([], [("another address at the same work domain", "work_address_differs")])


def test_explanations_name_the_levels(first_run: DbtWorkspace) -> None:
    rows = first_run.query(
        "select source_a, source_record_id_a, source_b, source_record_id_b, name_level, "
        "birth_date_level, address_level, explanation_json, merged_by from marts.fuzzy_merges"
    )
    merges = {tuple(r[:4]): r[4:] for r in rows}
    assert merges[NICKNAME][0] == "last name exact, first name nickname"
    assert merges[SWAPPED][0] == "first and last name exact (either order)"
    assert merges[TYPO][0] == "first name exact or nickname, last name typo"
    assert merges[MOVED][2] == "All other comparisons"  # the address did not match
    assert '"name"' in merges[MOVED][3] and '"weight"' in merges[MOVED][3]
    assert {m[4] for m in merges.values()} == {"model"}


def test_family_members_are_not_linked(first_run: DbtWorkspace) -> None:
    edges = _pairs(first_run, EDGES)
    assert TWINS not in edges
    assert FATHER_SON not in edges
    queue = {
        tuple(r[:4]): r[4]
        for r in first_run.query(
            "select source_a, source_record_id_a, source_b, source_record_id_b, review_reason "
            "from marts.fuzzy_review_queue"
        )
    }
    # scored high enough to be shown to a steward, with the reason they were held back
    assert queue.get(TWINS, "first_name_differs") == "first_name_differs"
    assert queue.get(FATHER_SON, "birth_date_differs") == "birth_date_differs"


REVIEW_QUEUE = (
    "select source_a, source_record_id_a, source_b, source_record_id_b, review_reason "
    "from marts.fuzzy_review_queue"
)
REFUSED = (
    "select source_a, source_record_id_a, source_b, source_record_id_b, refused_by, "
    "match_probability, is_in_review_queue from marts.fuzzy_refused_pairs"
)


def test_two_accounts_of_one_system_wait_for_a_steward(first_run: DbtWorkspace) -> None:
    """Two shop accounts (account ids) never merge on score: the pair waits in the
    review queue with its reason, and the audit lists it with its score."""
    prob = first_run.query(
        "select match_probability from intermediate.int_fuzzy_links "
        "where source_record_id_a = 'S-6' and source_record_id_b = 'S-7'"
    )[0][0]
    assert prob >= 0.99  # the model alone would have merged them
    assert _status(first_run)[SAME_SYSTEM] == "needs_review"
    assert SAME_SYSTEM not in _pairs(first_run, EDGES)
    queue = {tuple(r[:4]): r[4] for r in first_run.query(REVIEW_QUEUE)}
    assert queue[SAME_SYSTEM] == "two_accounts_one_system"
    refused = {tuple(r[:4]): r[4:] for r in first_run.query(REFUSED)}
    assert refused[SAME_SYSTEM] == ("two_accounts_one_system", prob, True)


def test_every_unmerged_scored_pair_is_audited(first_run: DbtWorkspace) -> None:
    """No refusal is silent: each pair scored at or above the review threshold and
    not merged is in fuzzy_refused_pairs, with the rule that held it back."""
    unmerged = _pairs(
        first_run,
        "select source_a, source_record_id_a, source_b, source_record_id_b "
        "from intermediate.int_fuzzy_link_decisions "
        "where not is_merged and match_probability >= 0.6",
    )
    refused = {tuple(r[:4]): r[4] for r in first_run.query(REFUSED)}
    assert unmerged and unmerged <= set(refused)
    assert refused.get(TWINS, "first_name_differs") == "first_name_differs"


def test_two_crm_contacts_of_one_person_merge(first_run: DbtWorkspace) -> None:
    """CRM contact ids are record ids: the guard does not see them as two people."""
    row = first_run.query(
        "select link_status, has_customer_id_conflict, refusal_rule "
        "from intermediate.int_fuzzy_link_decisions "
        "where source_record_id_a = 'C-10' and source_record_id_b = 'C-11'"
    )
    assert row == [("merged_by_model", False, None)]


def test_review_file_is_read_back(first_run: DbtWorkspace) -> None:
    queue = _pairs(first_run, "select * exclude (fuzzy_pair_id) from marts.fuzzy_review_queue")
    assert BORDERLINE in queue
    assert BORDERLINE not in _pairs(first_run, EDGES)
    assert TYPO in _pairs(first_run, EDGES)

    # the steward accepts the borderline pair (written in the other order),
    # rejects the typo pair, and accepts the two shop accounts as one person
    first_run.write_decisions(
        [
            (BORDERLINE[2], BORDERLINE[3], BORDERLINE[0], BORDERLINE[1], "accept"),
            (*TYPO, "reject"),
            (*SAME_SYSTEM, "accept"),
        ]
    )
    first_run.build_fuzzy()

    edges = _pairs(first_run, EDGES)
    assert BORDERLINE in edges
    assert TYPO not in edges
    assert SAME_SYSTEM in edges  # the steward's accept merges two accounts of one system
    status = _status(first_run)
    assert status[BORDERLINE] == "accepted_by_steward"
    assert status[TYPO] == "rejected_by_steward"
    assert status[SAME_SYSTEM] == "accepted_by_steward"
    queue = _pairs(first_run, "select * exclude (fuzzy_pair_id) from marts.fuzzy_review_queue")
    assert BORDERLINE not in queue and SAME_SYSTEM not in queue
    refused = {tuple(r[:4]): r[4] for r in first_run.query(REFUSED)}
    assert refused[TYPO] == "rejected_by_steward" and SAME_SYSTEM not in refused
    merged_by = first_run.query(
        "select merged_by, reviewer from marts.fuzzy_merges "
        f"where source_record_id_a = '{BORDERLINE[1]}' and source_record_id_b = '{BORDERLINE[3]}'"
    )
    assert merged_by == [("steward", "steward@example.com")]


def test_another_first_name_is_decided_from_evidence(first_run: DbtWorkspace) -> None:
    """Same last name, birth date and street, another first name: one person when a
    first name is part of the other's compound name or the employer agrees; twins
    with nothing else in common wait for a steward (first_name_differs)."""
    status = _status(first_run)
    assert status[SECOND_GIVEN_NAME] == "merged_by_model"
    assert status[REPLACED_SAME_EMPLOYER] == "merged_by_model"
    assert status.get(TWINS_ALONE, "not_scored") != "merged_by_model"
    refused = {tuple(r[:4]): r[4] for r in first_run.query(REFUSED)}
    assert refused.get(TWINS_ALONE, "first_name_differs") == "first_name_differs"


@pytest.mark.parametrize(
    ("pair", "other", "level"),
    [
        (FIRST_NAME_MISSING, None, "first name missing, last name agrees"),
        (INITIAL, OTHER_INITIAL, "last name exact, first name an initial of the other"),
        (YEAR_OFF_SAME_MONTH, YEARS_APART, "year one apart in the same month"),
        (TWO_EDITS, THREE_EDITS, "last name exact, first name two edits apart"),
    ],
    ids=["first_name_missing", "initial", "year_off_same_month", "two_edits"],
)
def test_weak_evidence_merges_where_the_rest_agrees(
    first_run: DbtWorkspace, pair, other, level
) -> None:
    """A missing first name, an initial, a year mistyped with the day, a name read
    badly: evidence of their own (not neutral, not a veto), so the pair merges on
    what else agrees; the look-alike counter-case (another initial, years apart,
    another name) does not."""
    rows = first_run.query(
        "select name_level, birth_date_level, link_status from intermediate.int_fuzzy_link_decisions "
        f"where source_record_id_a = '{pair[1]}' and source_record_id_b = '{pair[3]}'"
    )
    assert len(rows) == 1 and level in rows[0][:2], rows
    assert rows[0][2] == "merged_by_model"
    if other:
        assert _status(first_run).get(other, "not_scored") != "merged_by_model"
        assert other not in _pairs(first_run, EDGES)


def test_a_missing_first_name_at_a_households_address_waits_for_a_steward(
    first_run: DbtWorkspace,
) -> None:
    """No first name and no birth date, the last name and address agreeing: one
    person or anyone of the family. Scored high, held back with its reason."""
    assert HOUSEHOLD_FIRST_NAME_MISSING not in _pairs(first_run, EDGES)
    queue = {tuple(r[:4]): r[4] for r in first_run.query(REVIEW_QUEUE)}
    assert queue[HOUSEHOLD_FIRST_NAME_MISSING] == "first_name_missing"
