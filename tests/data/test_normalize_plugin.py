"""The normalisation plugin's shortcuts (regex fast path for plain emails, cache
keyed on phones without separators) agree with the libraries they stand in for."""

from __future__ import annotations

import importlib.util
import sys

import duckdb
import email_validator
import phonenumbers

from orchestration.paths import DBT_PROJECT_DIR


def _plugin():
    spec = importlib.util.spec_from_file_location(
        "ferry_normalize", DBT_PROJECT_DIR / "plugins" / "ferry_normalize.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ferry_normalize", module)
    spec.loader.exec_module(module)
    return module


def _library_email_ok(value: str) -> bool:
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return False
    return True


def _library_phone(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def test_shortcuts_agree_with_the_libraries(con_raw: duckdb.DuckDBPyConnection) -> None:
    plugin = _plugin()
    emails = [
        r[0]
        for r in con_raw.execute(
            """select distinct email from (
            select email from raw.crm_contacts union all select email from raw.shop_customers
            union all select email from raw.forms_submissions union all select requester_email from raw.support_tickets)
           where email is not null and trim(email) <> ''"""
        ).fetchall()
    ]
    extra = [
        "ok.name+tag@sub.example.fr",
        "a..b@gmail.com",
        ".a@gmail.com",
        "a@-bad.com",
        "é@gmail.com",
        "x@localhost",
        "a@b.c",
    ]
    for raw in emails + extra:
        value = raw.strip().lower()
        reason = plugin._email_reason(raw)
        assert (reason != "invalid_syntax") == _library_email_ok(value), raw
        if plugin._PLAIN_EMAIL.fullmatch(value):
            assert _library_email_ok(value), raw

    phones = [
        r[0]
        for r in con_raw.execute(
            """select distinct phone from (
            select phone from raw.crm_contacts union all select phone from raw.shop_customers
            union all select phone from raw.forms_submissions union all select phone from raw.consent_changes)
           where phone is not null and trim(phone) <> ''"""
        ).fetchall()
    ]
    assert len(phones) > 50
    for raw in phones:
        e164, reason = plugin._phone(raw, "FR")
        assert e164 == _library_phone(raw), raw
        assert (reason is None) == (e164 is not None), raw
