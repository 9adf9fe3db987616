"""Identifier normalisation and SHA-256 hashing for the ad tools (Meta, Google Ads).

Why one module: a match only happens when our hash equals the vendor's hash of the
same person, so the normalisation rules *are* the contract. Each rule below cites
the vendor guide it follows; tests/connectors/test_hashing.py pins them with
known input -> known hash vectors.

Sources (checked with the search tool, Nov 2026):
- Meta, "Customer File Custom Audiences" / hashing and normalising: EMAIL trim +
  lowercase; PHONE digits only, no leading zeros, with the country code; FN/LN
  lowercase letters only, no punctuation or spaces, UTF-8 for non-Latin letters;
  FI first initial; GEN ``m``/``f``; DOBY ``YYYY``, DOBM ``MM``, DOBD ``DD``; CT
  lowercase, no spaces or punctuation; ST two-letter code for US states; ZIP
  lowercase, no spaces, US = first five digits; COUNTRY ISO 3166-1 alpha-2
  lowercase. MADID and EXTERN_ID are not hashed.
- Google Ads API, Customer Match (``add_customer_match_user_list.py`` in
  googleads/google-ads-python and the help-centre formatting guide): email and
  names trimmed and lowercased, phone in E.164 with the ``+``, SHA-256 hex;
  ``countryCode`` and ``postalCode`` of ``addressInfo`` are sent in clear.
  Gmail dot removal: the Customer Match example and guide do *not* remove dots;
  only the enhanced-conversions and Campaign Manager 360 guides remove the dots
  of the local part for ``gmail.com``/``googlemail.com``. So it is off by default
  and available as ``remove_gmail_dots=True`` (destination option
  ``gmail_dot_removal``) for accounts that follow the enhanced-conversions rule.

Values that already are SHA-256 hex (64 lowercase hex characters) pass through
untouched, so staging models may hash in the warehouse (``dbt.hash`` is MD5 on
some adapters, so the warehouse must use sha256 for this to apply).

Nothing here logs: the inputs are raw PII.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from typing import Any

import phonenumbers

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

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

# Common spellings of countries seen in CRM exports -> ISO 3166-1 alpha-2.
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "gb", "unitedkingdom": "gb", "greatbritain": "gb", "england": "gb",
    "scotland": "gb", "wales": "gb", "usa": "us", "unitedstates": "us",
    "unitedstatesofamerica": "us", "america": "us", "germany": "de", "deutschland": "de",
    "france": "fr", "spain": "es", "espana": "es", "italy": "it", "italia": "it",
    "netherlands": "nl", "thenetherlands": "nl", "holland": "nl", "belgium": "be",
    "switzerland": "ch", "austria": "at", "ireland": "ie", "portugal": "pt",
    "canada": "ca", "australia": "au", "newzealand": "nz", "sweden": "se",
    "norway": "no", "denmark": "dk", "finland": "fi", "poland": "pl", "japan": "jp",
    "china": "cn", "india": "in", "brazil": "br", "mexico": "mx", "singapore": "sg",
}  # fmt: skip

GENDERS = {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}


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


# --- normalisers (return None when the value is unusable) --------------------------


def normalize_email(value: Any, remove_gmail_dots: bool = False) -> str | None:
    """Trim and lowercase; None unless it looks like local@domain."""
    text = _text(value)
    if text is None:
        return None
    email = text.lower()
    local, sep, domain = email.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in email):
        return None
    if remove_gmail_dots and domain in ("gmail.com", "googlemail.com"):
        email = local.replace(".", "") + "@" + domain
    return email


def _parse_phone(value: Any, region: str | None) -> phonenumbers.PhoneNumber | None:
    text = _text(value)
    if text is None:
        return None
    region_code = region.upper() if region else None
    try:
        number = phonenumbers.parse(text, region_code)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def normalize_phone_e164(value: Any, region: str | None = None) -> str | None:
    """E.164 with the ``+`` (Google). ``region`` (alpha-2) supplies a missing country code."""
    number = _parse_phone(value, normalize_country(region) if region else None)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone_meta(value: Any, region: str | None = None) -> str | None:
    """Digits only with the country code, no ``+`` and no leading zeros (Meta).

    The country code comes from the number itself, else from ``region`` (the
    profile's country). A number that cannot be parsed is still usable when it
    already carries an international prefix (``00``/``+``): Meta's rule is then
    simply "digits, leading zeros stripped".
    """
    e164 = normalize_phone_e164(value, region)
    if e164 is not None:
        return e164.lstrip("+")
    text = _text(value)
    if text is None or not (text.startswith("+") or text.startswith("00")):
        return None
    digits = re.sub(r"\D", "", text).lstrip("0")
    return digits if 7 <= len(digits) <= 15 else None


def normalize_name(value: Any) -> str | None:
    """Meta FN/LN: lowercase letters only (UTF-8 for non-Latin), no punctuation/spaces."""
    return _letters(value)


def normalize_name_google(value: Any) -> str | None:
    """Google hashedFirstName/hashedLastName: trim and lowercase (inner spaces kept)."""
    text = _text(value)
    return text.lower() if text else None


def first_initial(value: Any) -> str | None:
    name = normalize_name(value)
    return name[0] if name else None


def normalize_gender(value: Any) -> str | None:
    text = _letters(value)
    return GENDERS.get(text) if text else None


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


def normalize_city(value: Any) -> str | None:
    """Lowercase, no spaces or punctuation (``"New York"`` -> ``"newyork"``)."""
    return _letters(value)


def normalize_state(value: Any) -> str | None:
    """US states as the two-letter code, lowercase; elsewhere lowercase letters only."""
    text = _letters(value)
    if text is None:
        return None
    return US_STATES.get(text, text)


def normalize_country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2, lowercase; a few common names are mapped."""
    text = _letters(value)
    if text is None:
        return None
    if text in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[text]
    return text if len(text) == 2 and text.upper() in phonenumbers.SUPPORTED_REGIONS else None


def normalize_zip(value: Any, country: str | None = None) -> str | None:
    """Lowercase, no spaces or dashes; US: the first five digits."""
    text = _text(value)
    if text is None:
        return None
    compact = re.sub(r"[\s\-]", "", text.lower())
    if normalize_country(country) == "us" or (country is None and re.fullmatch(r"\d{5}(\d{4})?", compact)):
        digits = re.sub(r"\D", "", compact)
        return digits[:5] if len(digits) >= 5 else None
    return compact or None


# --- Meta -----------------------------------------------------------------------------

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


def meta_normalize(key: str, payload: dict[str, Any], default_country: str | None = None) -> str | None:
    """Normalised (not yet hashed) value of one Meta schema key for one payload."""
    source = META_KEYS[key]
    raw = payload.get(source)
    if key == "EMAIL":
        return normalize_email(raw)
    if key == "PHONE":
        return normalize_phone_meta(raw, payload.get("country") or default_country)
    if key in ("FN", "LN"):
        return normalize_name(raw)
    if key == "FI":
        return first_initial(raw)
    if key == "GEN":
        return normalize_gender(raw)
    if key in ("DOBY", "DOBM", "DOBD"):
        parts = birth_date_parts(raw)
        return None if parts is None else parts[("DOBY", "DOBM", "DOBD").index(key)]
    if key == "CT":
        return normalize_city(raw)
    if key == "ST":
        return normalize_state(raw)
    if key == "ZIP":
        return normalize_zip(raw, payload.get("country") or default_country)
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


# --- Google Ads -----------------------------------------------------------------------


def google_hashed_email(value: Any, remove_gmail_dots: bool = False) -> str | None:
    if is_sha256_hex(value):
        return value
    email = normalize_email(value, remove_gmail_dots=remove_gmail_dots)
    return sha256_hex(email) if email else None


def google_hashed_phone(value: Any, region: str | None = None) -> str | None:
    if is_sha256_hex(value):
        return value
    e164 = normalize_phone_e164(value, region)
    return sha256_hex(e164) if e164 else None


def google_hashed_name(value: Any) -> str | None:
    if is_sha256_hex(value):
        return value
    name = normalize_name_google(value)
    return sha256_hex(name) if name else None


def google_user_identifiers(
    payload: dict[str, Any],
    default_country: str | None = None,
    remove_gmail_dots: bool = False,
) -> list[dict[str, Any]]:
    """Google ``UserIdentifier`` objects (exactly one field each) for one person.

    Address matching needs all four of first name, last name, country and postal
    code; with any missing the address is left out rather than sent half-filled.
    ``email``/``phone`` may be lists (several addresses per person).
    """
    identifiers: list[dict[str, Any]] = []
    country = normalize_country(payload.get("country") or default_country)

    def values(key: str) -> list[Any]:
        raw = payload.get(key)
        return list(raw) if isinstance(raw, (list, tuple)) else [raw]

    for raw in values("email"):
        hashed = google_hashed_email(raw, remove_gmail_dots)
        if hashed:
            identifiers.append({"hashedEmail": hashed})
    for raw in values("phone"):
        hashed = google_hashed_phone(raw, country)
        if hashed:
            identifiers.append({"hashedPhoneNumber": hashed})
    first = google_hashed_name(payload.get("first_name"))
    last = google_hashed_name(payload.get("last_name"))
    postcode = _text(payload.get("postcode"))
    if first and last and country and postcode:
        identifiers.append(
            {
                "addressInfo": {
                    "hashedFirstName": first,
                    "hashedLastName": last,
                    "countryCode": country.upper(),
                    "postalCode": postcode,
                }
            }
        )
    if _text(payload.get("external_id")):
        identifiers.append({"thirdPartyUserId": _text(payload.get("external_id"))})
    if _text(payload.get("madid")):
        identifiers.append({"mobileId": _text(payload.get("madid"))})
    return identifiers
