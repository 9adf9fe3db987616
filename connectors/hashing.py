"""Identifier normalisation and SHA-256 hashing for the ad tools, through the vendors' own code.

Why one module: a match only happens when our hash equals the vendor's hash of the
same person, so the normalisation rules *are* the contract. Wherever a vendor ships
its normaliser we call it, so its edge cases are the vendor's, not ours:

- Google: ``google.ads.datamanager_util.Formatter`` (PyPI ``google-ads-datamanager-util``,
  Google's utility for the Data Manager API): e-mail (trim, lowercase, and for
  ``gmail.com``/``googlemail.com`` no dots and no ``+tag`` in the local part), phone
  (``+`` and digits), given/family name (trim, lowercase), region code (two letters,
  upper case), postal code (trimmed, sent in clear). The same rules serve the legacy
  Google Ads API path: it is the same matching on Google's side.
- Meta: ``facebook_business.adobjects.serverside.normalize.Normalize`` (PyPI
  ``facebook-business``, Meta's official Business SDK): ``em``, ``ph``, ``ct``,
  ``st``, ``zp``, ``country`` (validated against ISO 3166-1), ``fi``, ``doby``,
  ``dobm``, ``dobd``.

Small hand-written rules remain only where a vendor ships nothing, each citing the
vendor's documented rule:

- Google names: the util only trims and lowercases, while the API reference for
  ``AddressInfo.given_name``/``family_name`` says "all lowercase, with no
  punctuation, no leading or trailing whitespace" and the formatting guide
  (developers.google.com/data-manager/api/devguides/concepts/formatting) says
  "Don't include prefixes such as Mrs." / "Don't include suffixes such as Jr.".
  So punctuation (apostrophes, hyphens, dots) is removed and a leading title or
  trailing generational suffix dropped; inner spaces stay.
- Phone numbers without a country code: both vendors require it (Google "Include
  the plus sign (+) and the country code"; Meta "Phone numbers must include a
  country code ... even if all of your data is from the same country"), and
  neither normaliser can add it. ``phonenumbers`` (Google's libphonenumber) turns
  a national number into E.164 with the profile's country before the vendor
  normaliser runs; a number that stays without a country code is dropped.
- Meta FN/LN: the SDK only lowercases them; Meta's customer-file table says "a-z
  lowercase only, no punctuation, special characters in UTF-8": letters only.
  Meta GEN (``m``/``f``), ST (two-letter code for US states), US ZIP (first five
  digits, also for a 9-digit ZIP written without the dash), CT without
  punctuation (the SDK keeps apostrophes).
- Country names (``Germany``, ``UK``): ``pycountry`` (the ISO 3166 tables Meta's
  SDK validates with) plus a few names it does not know.

Values that already are SHA-256 hex (64 lowercase hex characters) pass through
untouched, so staging models may hash in the warehouse. Nothing here logs: the
inputs are raw PII.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any

import phonenumbers
import pycountry
from facebook_business.adobjects.serverside.normalize import Normalize
from google.ads.datamanager_util import Formatter

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
GOOGLE = Formatter()

US_STATES: dict[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj",
    "newmexico": "nm", "newyork": "ny", "northcarolina": "nc", "northdakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy", "puertorico": "pr",
}  # fmt: skip

# Names seen in CRM exports that ISO 3166 (pycountry) does not carry.
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "gb", "greatbritain": "gb", "england": "gb", "scotland": "gb", "wales": "gb",
    "northernireland": "gb", "america": "us", "deutschland": "de", "espana": "es",
    "italia": "it", "holland": "nl", "thenetherlands": "nl",
}  # fmt: skip

GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}
# Google's formatting guide: no prefixes (given name) and no suffixes (family name).
GOOGLE_NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr"})
GOOGLE_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex: what both vendors expect."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: Any) -> bool:
    return isinstance(value, str) and bool(SHA256_HEX.match(value))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _letters(value: Any) -> str | None:
    """Lowercase letters only (any script), no spaces, digits or punctuation."""
    text = _text(value)
    if text is None:
        return None
    kept = "".join(ch for ch in text.lower() if ch.isalpha())
    return kept or None


def _meta(field: str, value: str | None) -> str | None:
    """Meta's SDK normaliser for one field (not hashed); None where it refuses the value."""
    if value is None:
        return None
    try:
        return Normalize.normalize_field_skip_hashing(field, value) or None
    except (TypeError, ValueError):
        return None


# --- shared -----------------------------------------------------------------------------


def normalize_country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2, lowercase (Meta's form; Google's region code is its upper case)."""
    text = _text(value)
    if text is None:
        return None
    compact = _letters(text) or ""
    code = COUNTRY_ALIASES.get(compact)
    if code is None and len(compact) == 2:
        code = compact
    if code is None:
        try:
            code = pycountry.countries.lookup(text).alpha_2.lower()
        except LookupError:
            return None
    return _meta("country", code)  # Meta's SDK checks the code against ISO 3166-1


def normalize_phone_e164(value: Any, region: str | None = None) -> str | None:
    """E.164 with the ``+`` (Google's documented form). ``region`` supplies a missing country code."""
    text = _text(value)
    if text is None:
        return None
    country = normalize_country(region) if region else None
    try:
        number = phonenumbers.parse(text, country.upper() if country else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    try:
        return GOOGLE.format_phone_number(e164)
    except ValueError:
        return None


def birth_date_parts(value: Any) -> tuple[str, str, str] | None:
    """(YYYY, MM, DD) from a date, datetime or ISO ``YYYY-MM-DD`` string."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        text = _text(value)
        if text is None:
            return None
        try:
            value = dt.date.fromisoformat(text[:10])
        except ValueError:
            return None
    return f"{value.year:04d}", f"{value.month:02d}", f"{value.day:02d}"


# --- Meta -----------------------------------------------------------------------------


def normalize_email(value: Any) -> str | None:
    """Meta EMAIL: trim and lowercase, shaped like ``local@domain.tld`` (SDK ``em``)."""
    text = _text(value)
    if text is None or any(c.isspace() for c in text):
        return None
    return _meta("em", text)


def normalize_phone_meta(value: Any, region: str | None = None) -> str | None:
    """Meta PHONE: digits with the country code, no ``+`` and no leading zeros (SDK ``ph``).

    A national number gets its country code from ``region`` first (E.164); one that
    cannot be parsed is still usable when it carries an international prefix
    (``+``/``00``), which the SDK strips.
    """
    e164 = normalize_phone_e164(value, region)
    if e164 is not None:
        return _meta("ph", e164)
    text = _text(value)
    if text is None or not text.startswith(("+", "00")):
        return None
    return _meta("ph", text)


def normalize_name(value: Any) -> str | None:
    """Meta FN/LN: lowercase letters only (UTF-8 for non-Latin), no punctuation or spaces."""
    return _letters(value)


def first_initial(value: Any) -> str | None:
    """Meta FI: the SDK's ``fi`` (first character) of the normalised first name."""
    return _meta("fi", normalize_name(value))


def normalize_gender(value: Any) -> str | None:
    text = _letters(value)
    return GENDERS.get(text) if text else None


def normalize_city(value: Any) -> str | None:
    """Meta CT: the SDK's ``ct``, then no punctuation left (``"St. John's"`` -> ``"stjohns"``)."""
    return _letters(_meta("ct", _text(value)))


def normalize_state(value: Any) -> str | None:
    """Meta ST: US states as the two-letter code, lowercase; elsewhere the SDK's ``st``."""
    text = _letters(value)
    if text is None:
        return None
    return US_STATES.get(text) or _letters(_meta("st", text))


def normalize_zip(value: Any, country: str | None = None) -> str | None:
    """Meta ZIP: the SDK's ``zp`` (lowercase, no spaces, nothing after a dash); US: first five digits."""
    zp = _meta("zp", _text(value))
    if zp is None:
        return None
    us = normalize_country(country) == "us" if country else bool(re.fullmatch(r"\d{5}(\d{4})?", zp))
    if us:
        digits = re.sub(r"\D", "", zp)
        return digits[:5] if len(digits) >= 5 else None
    return zp


# Meta multi-key schema names and the payload key each reads (destination identifiers).
META_KEYS: dict[str, str] = {
    "EMAIL": "email",
    "PHONE": "phone",
    "FN": "first_name",
    "LN": "last_name",
    "FI": "first_name",
    "GEN": "gender",
    "DOBY": "birth_date",
    "DOBM": "birth_date",
    "DOBD": "birth_date",
    "CT": "city",
    "ST": "state",
    "ZIP": "postcode",
    "COUNTRY": "country",
    "MADID": "madid",
    "EXTERN_ID": "external_id",
}
META_UNHASHED = frozenset({"MADID", "EXTERN_ID"})
_META_DOB = {"DOBY": ("doby", 0), "DOBM": ("dobm", 1), "DOBD": ("dobd", 2)}


def meta_normalize(key: str, payload: dict[str, Any], default_country: str | None = None) -> str | None:
    """Normalised (not yet hashed) value of one Meta schema key for one payload."""
    raw = payload.get(META_KEYS[key])
    country = payload.get("country") or default_country
    if key == "EMAIL":
        return normalize_email(raw)
    if key == "PHONE":
        return normalize_phone_meta(raw, country)
    if key in ("FN", "LN"):
        return normalize_name(raw)
    if key == "FI":
        return first_initial(raw)
    if key == "GEN":
        return normalize_gender(raw)
    if key in _META_DOB:
        field, index = _META_DOB[key]
        parts = birth_date_parts(raw)
        return None if parts is None else _meta(field, parts[index])
    if key == "CT":
        return normalize_city(raw)
    if key == "ST":
        return normalize_state(raw)
    if key == "ZIP":
        return normalize_zip(raw, country)
    if key == "COUNTRY":
        return normalize_country(raw or default_country)
    if key == "MADID":
        text = _text(raw)
        return text.lower() if text else None
    if key == "EXTERN_ID":
        return _text(raw)
    raise KeyError(key)


def meta_value(key: str, payload: dict[str, Any], default_country: str | None = None) -> str:
    """The value Meta receives for ``key``: SHA-256 of the normalised value, or ``""`` if absent.

    An already-hashed value (64 hex) passes through. Meta takes an empty string
    for a key a user does not have.
    """
    raw = payload.get(META_KEYS[key])
    if key not in META_UNHASHED and is_sha256_hex(raw):
        return raw
    normalised = meta_normalize(key, payload, default_country)
    if normalised is None:
        return ""
    return normalised if key in META_UNHASHED else sha256_hex(normalised)


# --- Google ---------------------------------------------------------------------------


def normalize_email_google(value: Any) -> str | None:
    """Google's ``Formatter.format_email_address`` (Gmail: no dots, no ``+tag``)."""
    text = _text(value)
    if text is None:
        return None
    try:
        email = GOOGLE.format_email_address(text)
    except ValueError:
        return None
    return email if "." in email.rpartition("@")[2] else None


def normalize_name_google(value: Any, *, drop: frozenset[str] = frozenset(), at_end: bool = False) -> str | None:
    """Google given/family name: the util's trim + lowercase, then no punctuation (API
    reference), inner spaces kept; ``drop`` removes a leading title or trailing suffix."""
    text = _text(value)
    if text is None:
        return None
    try:
        name = GOOGLE.format_given_name(text)
    except ValueError:
        return None
    words = ["".join(ch for ch in w if ch.isalpha() or ch.isdigit()) for w in name.split()]
    words = [w for w in words if w]
    if len(words) > 1 and words[-1 if at_end else 0] in drop:
        words = words[:-1] if at_end else words[1:]
    return " ".join(words) or None


def google_given_name(value: Any) -> str | None:
    return normalize_name_google(value, drop=GOOGLE_NAME_PREFIXES)


def google_family_name(value: Any) -> str | None:
    return normalize_name_google(value, drop=GOOGLE_NAME_SUFFIXES, at_end=True)


def google_region_code(value: Any) -> str | None:
    """Google ``regionCode``/``countryCode``: ISO 3166-1 alpha-2 through ``format_region_code``."""
    country = normalize_country(value)
    return GOOGLE.format_region_code(country) if country else None


def google_postal_code(value: Any) -> str | None:
    text = _text(value)
    return GOOGLE.format_postal_code(text) if text else None


def _hashed(value: Any, normalise: Any, *args: Any) -> str | None:
    if is_sha256_hex(value):
        return value
    normalised = normalise(value, *args)
    return sha256_hex(normalised) if normalised else None


def google_hashed_email(value: Any) -> str | None:
    return _hashed(value, normalize_email_google)


def google_hashed_phone(value: Any, region: str | None = None) -> str | None:
    return _hashed(value, normalize_phone_e164, region)


def google_identifiers(payload: dict[str, Any], default_country: str | None = None) -> list[tuple[str, Any]]:
    """One person's identifiers as ``(kind, value)``: ``email``/``phone`` (SHA-256 hex),
    ``address`` (dict of hashed names, region and postal code in clear), ``third_party``
    and ``mobile`` (as given). Each API path names the kinds its own way.

    Address matching needs all four of first name, last name, country and postal
    code; with any missing the address is left out rather than sent half-filled.
    ``email``/``phone`` may be lists (several addresses per person).
    """
    out: list[tuple[str, Any]] = []
    country = payload.get("country") or default_country

    def values(key: str) -> list[Any]:
        raw = payload.get(key)
        return list(raw) if isinstance(raw, (list, tuple)) else [raw]

    for raw in values("email"):
        if hashed := google_hashed_email(raw):
            out.append(("email", hashed))
    for raw in values("phone"):
        if hashed := google_hashed_phone(raw, country):
            out.append(("phone", hashed))
    first = _hashed(payload.get("first_name"), google_given_name)
    last = _hashed(payload.get("last_name"), google_family_name)
    region = google_region_code(country)
    postcode = google_postal_code(payload.get("postcode"))
    if first and last and region and postcode:
        out.append(("address", {"given_name": first, "family_name": last, "region_code": region,
                                "postal_code": postcode}))
    if external := _text(payload.get("external_id")):
        out.append(("third_party", external))
    if madid := _text(payload.get("madid")):
        out.append(("mobile", madid))
    return out


def google_user_identifiers(payload: dict[str, Any], default_country: str | None = None) -> list[dict[str, Any]]:
    """Google Ads API (legacy path) ``UserIdentifier`` objects, exactly one field each."""
    shaped: list[dict[str, Any]] = []
    for kind, value in google_identifiers(payload, default_country):
        if kind == "address":
            shaped.append({"addressInfo": {"hashedFirstName": value["given_name"],
                                           "hashedLastName": value["family_name"],
                                           "countryCode": value["region_code"],
                                           "postalCode": value["postal_code"]}})
        else:
            field = {"email": "hashedEmail", "phone": "hashedPhoneNumber", "third_party": "thirdPartyUserId",
                     "mobile": "mobileId"}[kind]
            shaped.append({field: value})
    return shaped
