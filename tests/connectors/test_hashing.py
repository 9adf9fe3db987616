"""Every documented normalisation example of Meta's and Google's guides, one row each, with its rule.

The rows are the examples the vendors print next to each rule (URL or section in
the row's ``rule``); where a guide states a rule without an example, the row is
the rule applied to a value that exercises it, and says so. Normalisation runs
through the vendors' own code (Google's ``google-ads-datamanager-util`` Formatter,
Meta's ``facebook_business`` Normalize), so these rows also pin which edge cases
those libraries decide. Hashes: Meta's documented vector for ``test@example.com``
plus ``sha256`` of the normalised form (the hash is never the interesting part).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import hashing as h

META_DOC_EMAIL = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"

GOOGLE_FMT = "https://developers.google.com/data-manager/api/devguides/concepts/formatting"
GOOGLE_ADDRESS = "Data Manager API reference, AddressInfo.given_name/family_name: lowercase, no punctuation"
GOOGLE_ADS_ADDRESS = "Google Ads API reference, OfflineUserAddressInfo.country_code: ISO-3166-1 alpha-2"
META_CA = "https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences (Hashing and Normalizing)"
META_HELP = "https://www.facebook.com/business/help/2082575038703844 (format a customer list)"

# (case id, function, input, expected normalised value, rule cited)
CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], Any, str]] = [
    # --- Google e-mail (Data Manager formatting guide, email_address row)
    ("google-gmail-dots-and-tag", h.normalize_email_google, ("cloudy.sanfrancisco+shopping@gmail.com",),
     "cloudysanfrancisco@gmail.com", f"{GOOGLE_FMT}: gmail.com: remove all periods and the + suffix (its example)"),
    ("google-googlemail-dots-and-tag", h.normalize_email_google, ("Cloudy.SanFrancisco+Shopping@GoogleMail.com",),
     "cloudysanfrancisco@googlemail.com", f"{GOOGLE_FMT}: the same rule for googlemail.com, lowercase"),
    ("google-other-domain-keeps-dots-and-plus", h.normalize_email_google, ("user.name+NYC@Example.com",),
     "user.name+nyc@example.com", f"{GOOGLE_FMT}: other domains keep periods and plus signs (its example)"),
    ("google-email-whitespace-trimmed", h.normalize_email_google, ("  Test@Example.com ",), "test@example.com",
     f"{GOOGLE_FMT}: trim leading and trailing whitespace, lowercase"),
    ("google-email-inner-whitespace-refused", h.normalize_email_google, ("te st@example.com",), None,
     f"{GOOGLE_FMT}: intermediate whitespace (the Formatter refuses it rather than guess)"),
    # --- Google phone
    ("google-phone-us-example", h.normalize_phone_e164, ("(800)555-0100", "US"), "+18005550100",
     f"{GOOGLE_FMT}: E.164 with + and country code; US (800)555-0100 -> +18005550100 (its example)"),
    ("google-phone-international", h.normalize_phone_e164, ("+44 20 7031 3000",), "+442070313000",
     f"{GOOGLE_FMT}: all characters after the + are digits"),
    ("google-phone-without-country-dropped", h.normalize_phone_e164, ("650 555 1212",), None,
     f"{GOOGLE_FMT}: include the country code (none known: not sent)"),
    # --- Google names (apostrophes, hyphens, prefixes, suffixes)
    ("google-given-name-prefix", h.google_given_name, ("Mrs. Jane",), "jane",
     f"{GOOGLE_FMT}: given_name: don't include prefixes such as Mrs."),
    ("google-family-name-suffix", h.google_family_name, ("Smith Jr.",), "smith",
     f"{GOOGLE_FMT}: family_name: don't include suffixes such as Jr."),
    ("google-family-name-apostrophe", h.google_family_name, ("O'Brien",), "obrien",
     f"{GOOGLE_ADDRESS} (an apostrophe is punctuation)"),
    ("google-given-name-hyphen", h.google_given_name, (" Jean-Luc ",), "jeanluc",
     f"{GOOGLE_ADDRESS} (a hyphen is punctuation); no leading or trailing whitespace"),
    ("google-name-inner-space-kept", h.google_given_name, ("Mary Ann",), "mary ann",
     f"{GOOGLE_ADDRESS}: only leading and trailing whitespace goes"),
    ("google-name-accents-kept", h.google_family_name, ("Pérez",), "pérez",
     f"{GOOGLE_ADDRESS}: lowercase (letters with accents are not punctuation)"),
    # --- Google region and postal code (sent in clear)
    ("google-region-code", h.google_region_code, ("us",), "US", f"{GOOGLE_ADS_ADDRESS}; Formatter.format_region_code"),
    ("google-region-from-name", h.google_region_code, ("United Kingdom",), "GB", f"{GOOGLE_ADS_ADDRESS} (UK is GB)"),
    ("google-postal-code-clear", h.google_postal_code, (" 94043 ",), "94043",
     f"{GOOGLE_FMT}: postal_code is not hashed; trimmed"),
    # --- Meta e-mail
    ("meta-email-documented-vector", h.meta_value, ("EMAIL", {"email": " Test@Example.COM "}), META_DOC_EMAIL,
     f"{META_CA}: EMAIL trim and lowercase; sha256(test@example.com) is the guide's vector"),
    ("meta-email-gmail-kept", h.normalize_email, ("your.name@gmail.com",), "your.name@gmail.com",
     f"{META_HELP}: example your.name@gmail.com (Meta does not remove Gmail dots)"),
    ("meta-email-invalid", h.normalize_email, ("not-an-email",), None, f"{META_CA}: EMAIL must be an address"),
    # --- Meta phone
    ("meta-phone-us-punctuation", h.normalize_phone_meta, ("1-234-567-8910",), None,
     f"Ferry's rule for {META_HELP}'s 'must include a country code': no +/00 and no known country -> not sent"),
    ("meta-phone-us-with-country", h.normalize_phone_meta, ("1-234-567-8910", "US"), "12345678910",
     f"{META_CA}: PHONE digits only, with the country code (example 12345678910)"),
    ("meta-phone-uk-example", h.normalize_phone_meta, ("+44 844 412 4653",), "448444124653",
     f"{META_HELP}: example +44 844 412 4653: no symbols, country code kept"),
    ("meta-phone-leading-zeros", h.normalize_phone_meta, ("0033 6 12 34 56 78",), "33612345678",
     f"{META_CA}: remove symbols, letters and any leading zeroes"),
    ("meta-phone-national-with-profile-country", h.normalize_phone_meta, ("07700 900123", "GB"), "447700900123",
     f"{META_HELP}: include the country code even if all data is from one country"),
    # --- Meta names
    ("meta-first-name-punctuation", h.normalize_name, ("Mary-Ann",), "maryann",
     f"{META_CA}: FN a-z lowercase only, no punctuation"),
    ("meta-last-name-apostrophe", h.normalize_name, ("O'Neil",), "oneil", f"{META_CA}: LN no punctuation"),
    ("meta-name-utf8", h.normalize_name, ("Zoë",), "zoë", f"{META_CA}: special characters in UTF-8"),
    ("meta-first-initial", h.first_initial, ("John",), "j", f"{META_CA}: FI first initial, lowercase"),
    # --- Meta location
    ("meta-zip-us-five-digits", h.normalize_zip, ("94035-1234", "US"), "94035",
     f"{META_CA}: ZIP: only the first 5 digits for U.S. zip codes"),
    ("meta-zip-us-nine-digits-no-dash", h.normalize_zip, ("941081234",), "94108",
     f"{META_CA}: ZIP: first 5 digits for U.S. (written without the dash)"),
    ("meta-zip-uk", h.normalize_zip, ("M1 1AE", "GB"), "m11ae",
     f"{META_CA}: ZIP lowercase with no white space; UK in area/district/sector form"),
    ("meta-zip-uk-london", h.normalize_zip, ("SW1A 1AA", "GB"), "sw1a1aa",
     f"{META_CA}: ZIP lowercase with no white space (UK)"),
    ("meta-zip-france", h.normalize_zip, ("75018", "FR"), "75018", f"{META_CA}: ZIP as written elsewhere"),
    ("meta-city", h.normalize_city, ("New York",), "newyork", f"{META_CA}: CT lowercase, no spaces"),
    ("meta-city-punctuation", h.normalize_city, ("St. John's",), "stjohns",
     f"{META_CA}: CT no punctuation, no special characters"),
    ("meta-state-us", h.normalize_state, ("California",), "ca", f"{META_CA}: ST 2-character ANSI code, lowercase"),
    ("meta-state-abbrev", h.normalize_state, (" CA ",), "ca", f"{META_CA}: ST lowercase"),
    ("meta-country", h.normalize_country, ("US",), "us", f"{META_CA}: COUNTRY ISO 3166-1 alpha-2, lowercase"),
    ("meta-country-name", h.normalize_country, ("United States",), "us", f"{META_CA}: COUNTRY alpha-2 code"),
    ("meta-country-uk", h.normalize_country, ("U.K.",), "gb", f"{META_CA}: COUNTRY alpha-2 (the UK is gb)"),
    ("meta-country-unknown", h.normalize_country, ("zz",), None, f"{META_CA}: COUNTRY must be ISO 3166-1"),
    # --- Meta other keys
    ("meta-gender", h.normalize_gender, ("Female",), "f", f"{META_CA}: GEN m or f"),
    ("meta-dob-month", h.meta_normalize, ("DOBM", {"birth_date": dt.date(1990, 1, 2)}), "01",
     f"{META_CA}: DOBM MM 01-12"),
    ("meta-dob-day", h.meta_normalize, ("DOBD", {"birth_date": "1990-01-02"}), "02", f"{META_CA}: DOBD DD 01-31"),
    ("meta-dob-year", h.meta_normalize, ("DOBY", {"birth_date": "1990-01-02"}), "1990", f"{META_CA}: DOBY YYYY"),
    ("meta-madid-not-hashed", h.meta_value, ("MADID", {"madid": "AECE52E7-03EE-455A-B3C4-E57283966239"}),
     "aece52e7-03ee-455a-b3c4-e57283966239", f"{META_CA}: MADID sent unhashed, lowercase"),
    ("meta-extern-id-not-hashed", h.meta_value, ("EXTERN_ID", {"external_id": " crm:42 "}), "crm:42",
     f"{META_CA}: EXTERN_ID sent unhashed"),
]


@pytest.mark.parametrize(("fn", "args", "expected", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_documented_example(fn: Callable[..., Any], args: tuple[Any, ...], expected: Any, rule: str) -> None:
    assert fn(*args) == expected, rule


def test_hashes_are_sha256_of_the_normalised_form() -> None:
    assert h.sha256_hex("test@example.com") == META_DOC_EMAIL
    assert h.google_hashed_email("Cloudy.SanFrancisco+x@gmail.com") == h.sha256_hex("cloudysanfrancisco@gmail.com")
    assert h.google_hashed_phone("(800)555-0100", "US") == h.sha256_hex("+18005550100")
    assert h.meta_value("PHONE", {"phone": "+44 844 412 4653"}) == h.sha256_hex("448444124653")
    assert h.meta_value("ZIP", {"postcode": "M1 1AE", "country": "GB"}) == h.sha256_hex("m11ae")
    # an already-hashed value passes through both paths untouched
    assert h.meta_value("EMAIL", {"email": META_DOC_EMAIL}) == META_DOC_EMAIL
    assert h.google_hashed_email(META_DOC_EMAIL) == META_DOC_EMAIL


def test_google_identifiers_carry_every_kind_once() -> None:
    ids = h.google_identifiers({"email": ["A.B+x@gmail.com", "bad"], "phone": "(800)555-0100", "first_name": "Mrs. Jane",
                                "last_name": "O'Brien", "country": "United States", "postcode": " 94043 ",
                                "external_id": "crm:1"})
    assert ids == [
        ("email", h.sha256_hex("ab@gmail.com")),
        ("phone", h.sha256_hex("+18005550100")),
        ("address", {"given_name": h.sha256_hex("jane"), "family_name": h.sha256_hex("obrien"),
                     "region_code": "US", "postal_code": "94043"}),
        ("third_party", "crm:1"),
    ]
    # address matching needs all four parts: none is sent half-filled
    assert h.google_identifiers({"first_name": "Jane", "last_name": "Doe", "country": "US"}) == []
    legacy = h.google_user_identifiers({"email": "a@example.com", "first_name": "J", "last_name": "D",
                                        "country": "fr", "postcode": "75018"})
    assert legacy == [{"hashedEmail": h.sha256_hex("a@example.com")},
                      {"addressInfo": {"hashedFirstName": h.sha256_hex("j"), "hashedLastName": h.sha256_hex("d"),
                                       "countryCode": "FR", "postalCode": "75018"}}]


_any_text = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.dates())


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(sorted(h.META_KEYS)), value=_any_text, country=st.sampled_from([None, "US", "FR", "xx"]))
def test_meta_values_are_empty_or_sha256_and_never_raw(key: str, value: object, country: str | None) -> None:
    payload = {h.META_KEYS[key]: value, "country": country}
    out = h.meta_value(key, payload)
    if key in h.META_UNHASHED:
        # Unhashed ids are only NFC-normalised and trimmed (U+F900 becomes U+8C48, say).
        sent = unicodedata.normalize("NFC", str(value)).strip()
        assert out == "" or out == sent or out == sent.lower()
    else:
        assert out == "" or h.is_sha256_hex(out)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=40))
def test_normalisers_are_idempotent(value: str) -> None:
    for fn in (h.normalize_email, h.normalize_email_google, h.normalize_name, h.google_given_name, h.normalize_city,
               h.normalize_state, h.normalize_country):
        once = fn(value)
        assert once is None or fn(once) == once, fn.__name__
    e164 = h.normalize_phone_e164(value, "US")
    assert e164 is None or (h.normalize_phone_e164(e164) == e164 and e164.startswith("+"))


@settings(max_examples=100, deadline=None)
@given(payload=st.fixed_dictionaries({}, optional={
    k: st.one_of(st.none(), st.text(max_size=30)) for k in
    ("email", "phone", "first_name", "last_name", "country", "postcode", "external_id")}))
def test_google_identifiers_have_exactly_one_field(payload: dict) -> None:
    for ident in h.google_user_identifiers(payload, default_country="FR"):
        assert len(ident) == 1
        (kind, value), = ident.items()
        if kind in ("hashedEmail", "hashedPhoneNumber"):
            assert h.is_sha256_hex(value)
        if kind == "addressInfo":
            assert h.is_sha256_hex(value["hashedFirstName"]) and h.is_sha256_hex(value["hashedLastName"])
