"""Feature preparation: what makes two spellings of one fact compare equal."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from identity.fuzzy import read_nicknames
from identity.fuzzy.features import prepare_features
from orchestration.paths import FUZZY_NICKNAMES_PATH


def _features(rows: list[dict], **kwargs) -> dict[str, dict]:
    con = duckdb.connect()
    table = prepare_features(con, pa.Table.from_pylist(rows), read_nicknames(FUZZY_NICKNAMES_PATH), **kwargs)
    out = con.sql(f"select * from {table}").fetchall()
    names = [d[0] for d in con.sql(f"select * from {table}").description]
    return {r[names.index("source_record_id")]: dict(zip(names, r, strict=True)) for r in out}


def _person(rid: str, **fields) -> dict:
    base = {"source": "crm", "source_record_id": rid, "first_name": "Jean", "last_name": "Martin",
            "email": None, "email_is_valid": None, "phone": None, "phone_is_valid": None,
            "company": None}
    return {**base, **fields}


def test_names_lose_case_accents_and_punctuation() -> None:
    f = _features([_person("1", first_name=" Jean-Édouard ", last_name="O'Brien")])["1"]
    assert (f["first_name"], f["last_name"]) == ("jeanedouard", "obrien")


def test_nicknames_share_a_canonical_alias() -> None:
    f = _features([_person("1", first_name="Bob"), _person("2", first_name="Robert"),
                   _person("3", first_name="Chris")])
    assert "robert" in f["1"]["first_name_aliases"]
    assert f["1"]["first_name_key"] == f["2"]["first_name_key"] == "robert"
    # an ambiguous nickname keeps every name it may stand for
    assert {"christophe", "christopher", "christine"} <= set(f["3"]["first_name_aliases"])


def test_invalid_and_placeholder_contacts_never_match() -> None:
    f = _features([
        _person("1", email="jdoe1985@gmail.com", phone="+33 6 12 34 56 78"),
        _person("2", email="x@y.fr", email_is_valid=False, phone="0612345678", phone_is_valid=False),
        _person("3", phone="0000000000"),
    ])
    assert f["1"]["phone_digits"] == "612345678"  # national and international forms agree
    assert f["1"]["email_local"] == "jdoe1985"
    assert f["2"]["email"] is None and f["2"]["phone_digits"] is None
    assert f["3"]["phone_digits"] is None


def test_local_part_made_of_the_name_is_not_evidence() -> None:
    f = _features([_person("1", email="Jean.Martin+shop@gmail.com"), _person("2", email="jm.75@free.fr")])
    assert f["1"]["email"] == "jean.martin+shop@gmail.com"
    assert f["1"]["email_local"] is None
    assert f["2"]["email_local"] == "jm75"


def test_hub_values_are_blanked() -> None:
    rows = [_person(str(i), first_name=f"p{i}x", email=f"contact.desk{i % 1}@x{i}.fr") for i in range(5)]
    f = _features(rows, max_records_per_value=4)
    assert all(v["email_local"] is None for v in f.values())
    f = _features(rows, max_records_per_value=5)
    assert all(v["email_local"] == "contactdesk0" for v in f.values())


def test_records_without_any_name_are_left_out() -> None:
    f = _features([_person("1"), _person("2", last_name=None), _person("3", first_name="  "),
                   _person("4", first_name=None, last_name=" - ")])
    # one name is enough (a FEBRL record with its given name missing); none is not
    assert set(f) == {"1", "2", "3"}
    assert f["3"]["first_name"] is None and f["2"]["last_name"] is None


def test_streets_and_birth_dates_are_normalised() -> None:
    f = _features([
        _person("1", street="12, R. Pasteur", birth_date="19850230"),
        _person("2", street="12 rue  Pasteur", birth_date="1985-02-03"),
        _person("3", street="4 Smith St", birth_date="not a date"),
    ])
    assert f["1"]["street"] == f["2"]["street"] == "12 rue pasteur"
    assert (f["1"]["street_number"], f["1"]["street_name"]) == ("12", "rue pasteur")
    assert f["3"]["street"] == "4 smith street"
    # an impossible date is kept as text, so its typo still compares
    assert [f[k]["birth_date"] for k in "123"] == ["1985-02-30", "1985-02-03", None]
    # a digit typed twice leaves no date, but its digits still compare for typos
    g = _features([_person("9", birth_date="199860716")])["9"]
    assert (g["birth_date"], g["birth_digits"]) == (None, "199860716")
    assert f["2"]["birth_digits"] == "19850203"


def test_missing_required_column_is_named() -> None:
    with pytest.raises(ValueError, match="last_name"):
        _features([{"source": "crm", "source_record_id": "1", "first_name": "Jean"}])


def test_employer_comes_from_the_company_or_a_work_address() -> None:
    f = _features([
        _person("1", email="anna.x@granit-btp.fr"),
        _person("2", email="anna.x@gmail.com", company="Granit BTP SAS"),
        _person("3", email="ax@nordwind.de", company="Nordwind GmbH"),
        _person("4", email="anna@hotmail"),  # a mailbox provider, typo'd or not
        _person("5", email="anna@orange.fr"),
    ])
    assert f["1"]["employer"] == f["2"]["employer"] == "granitbtp"
    assert f["3"]["employer"] == "nordwind"  # the legal form is dropped
    assert f["4"]["employer"] is None and f["5"]["employer"] is None
    assert f["1"]["work_domain"] == "granitbtp" and f["2"]["work_domain"] is None


def test_an_unlisted_mailbox_provider_is_caught_by_its_share() -> None:
    # 30 records at 'webmail.example' and no record naming it as a company
    rows = [_person(str(i), first_name=f"p{i}x", email=f"p{i}@webmail.example") for i in range(30)]
    rows.append(_person("w", email="jean@kiwilabs.io"))
    f = _features(rows, max_records_per_value=25)
    assert all(f[str(i)]["employer"] is None for i in range(30))
    assert f["w"]["employer"] == "kiwilabs"


def test_role_mailboxes_are_nobodys_own_work_address() -> None:
    f = _features([_person("1", email="info@pixelco.fr"), _person("2", email="jean.martin@pixelco.fr")])
    assert f["1"]["employer"] == f["2"]["employer"] == "pixelco"
    assert f["1"]["own_work_local"] is None
    assert f["2"]["own_work_local"] == "jean.martin"


def test_a_mistyped_address_is_repaired_for_matching_only() -> None:
    f = _features([
        _person("1", email="Camille32 @hotmail.com", email_is_valid=False),
        _person("2", email="jean.martin@@pixelco.com", email_is_valid=False),
        _person("3", email="none@none.com", email_is_valid=False),  # a placeholder: not a slip
        _person("4", email="leonard.x@vega-motors", email_is_valid=False),  # no top-level domain
    ])
    assert f["1"]["email"] == "camille32@hotmail.com"
    assert f["1"]["email_number"] == "32"
    assert f["2"]["email"] == "jean.martin@pixelco.com"
    assert f["2"]["email_mailbox"] == "jeanmartin@pixelco"  # compares with ...@pixelco.fr
    assert f["3"]["email"] is None and f["3"]["email_number"] is None
    # unrepairable, but its parts still tell the employer
    assert f["4"]["email"] is None and f["4"]["employer"] == "vegamotors"


def test_the_number_in_an_address_is_kept_when_short() -> None:
    f = _features([
        _person("1", email="maxime_lefebvre83@gmail.com"),
        _person("2", email="lefebvre.maxime832@live.fr"),
        _person("3", email="m0612345678@free.fr"),  # a phone number, not a birth year
    ])
    assert (f["1"]["email_number"], f["2"]["email_number"]) == ("83", "832")
    assert f["1"]["email_number_prefix"] == f["2"]["email_number_prefix"] == "83"
    assert f["3"]["email_number"] is None


def test_birth_date_and_initial_block_is_bounded() -> None:
    """A mover whose names are both mistyped shares the birth date and an initial;
    a key more records share than a block may hold (a placeholder date) is blank."""
    movers = [_person("m1", first_name="Nitcholas", last_name="Paonini", birth_date="1974-11-20"),
              _person("m2", first_name="Nicholas", last_name="Paolini", birth_date="1974-11-20")]
    placeholder = [_person(f"p{i}", last_name=f"Moreau{'x' * i}", birth_date="1900-01-01")
                   for i in range(4)]
    f = _features(movers + placeholder, max_records_per_value=3)
    assert f["m1"]["birth_date_last_initial"] == f["m2"]["birth_date_last_initial"] == "1974-11-20p"
    assert f["m1"]["birth_date_first_initial"] == f["m2"]["birth_date_first_initial"] == "1974-11-20n"
    assert all(f[f"p{i}"]["birth_date_last_initial"] is None for i in range(4))
    assert all(f[f"p{i}"]["birth_date_first_initial"] is None for i in range(4))


def test_birthday_initials_and_street_name_blocks_are_bounded() -> None:
    """A mover whose year was mistyped too shares the day, month and initials; one
    whose house number was mistyped shares the street name within its postcode.
    Keys shared by more records than a block may hold are blank."""
    def person(rid: str, **fields) -> dict:
        return _person(rid, **{"birth_date": None, "street": None, "postcode": None, **fields})

    f = _features([
        person("y1", first_name="Leonhard", last_name="Malenchini", birth_date="1973-08-19"),
        person("y2", first_name="Lonhard", last_name="Malcnchini", birth_date="1974-08-19"),
        person("s1", street="03440 Canale Fiamma", postcode="09160"),
        person("s2", street="0340 Canale Fiamma", postcode="09160"),
        *(person(f"n{i}", street=f"{i} Via Roma", postcode="00100") for i in range(4)),
    ], max_records_per_value=3)
    assert f["y1"]["birthday_initials"] == f["y2"]["birthday_initials"] == "08-19lm"
    assert f["s1"]["street_name_postcode"] == f["s2"]["street_name_postcode"] == "canale fiamma|09160"
    # four neighbours of one street: more than a block may hold
    assert all(f[f"n{i}"]["street_name_postcode"] is None for i in range(4))
