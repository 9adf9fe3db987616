"""Great Expectations suites on the profile and consent marts, as blocking asset checks.

Why these: every sync trusts them. A duplicated profile_id would be one person
synced twice; a value flagged valid that is not an email/E.164 phone would be
rejected by the vendor (or worse, reach the wrong person); a consent row with a
null decision cannot be evaluated by the policies.
"""

from collections.abc import Iterable

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, multi_asset_check

from orchestration.assets.catalog import model_relation
from orchestration.checks.gx_runner import Expectation, gx, run_suite

EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_REGEX = r"^\+[1-9][0-9]{6,14}$"
CONSENT_CHANNELS = ["email", "sms", "ads"]


def profile_expectations() -> list[Expectation]:
    return [
        Expectation("profile_id_unique", lambda: gx.expectations.ExpectColumnValuesToBeUnique(column="profile_id"),
                    "one row per person"),
        Expectation("profile_id_not_null", lambda: gx.expectations.ExpectColumnValuesToNotBeNull(column="profile_id"),
                    "every profile has an id"),
        Expectation("syncable_emails_valid",
                    lambda: gx.expectations.ExpectColumnValuesToMatchRegex(column="syncable_email", regex=EMAIL_REGEX),
                    "emails flagged valid (the only ones synced) must look like emails"),
        Expectation("syncable_phones_e164",
                    lambda: gx.expectations.ExpectColumnValuesToMatchRegex(column="syncable_phone", regex=E164_REGEX),
                    "phones flagged valid (the only ones synced) must be E.164"),
    ]


def profiles_frame(conn, relation: str):
    return conn.execute(
        f"""
        select
            profile_id,
            case when email_is_valid then email end as syncable_email,
            case when phone_is_valid then phone end as syncable_phone
        from {relation}
        """
    ).df()


def consent_expectations() -> list[Expectation]:
    return [
        *[
            Expectation(f"{col}_not_null", lambda col=col: gx.expectations.ExpectColumnValuesToNotBeNull(column=col),
                        f"consent column {col} must be set on every row")
            for col in ("profile_id", "channel", "is_consented")
        ],
        Expectation("one_row_per_profile_and_channel",
                    lambda: gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=["profile_id", "channel"]),
                    "one consent decision per profile and channel"),
        Expectation("known_channels",
                    lambda: gx.expectations.ExpectColumnValuesToBeInSet(column="channel", value_set=CONSENT_CHANNELS),
                    "channels are email, sms or ads"),
    ]


def _suite_check(model: str, check_name: str, expectations: list[Expectation], frame_sql):
    found = model_relation(model)
    if found is None:
        return None
    asset_key, relation = found
    specs = [
        AssetCheckSpec(e.name, asset=asset_key, blocking=True, description=e.why) for e in expectations
    ]

    @multi_asset_check(specs=specs, name=check_name, required_resource_keys={"warehouse"},
                       description=f"Great Expectations suite on {model}.")
    def _check(context) -> Iterable[AssetCheckResult]:
        with context.resources.warehouse.connect() as conn:
            frame = frame_sql(conn, relation)
        for outcome in run_suite(check_name, frame, expectations):
            yield AssetCheckResult(
                asset_key=asset_key, check_name=outcome.name, passed=outcome.passed,
                severity=AssetCheckSeverity.ERROR, description=outcome.message,
                metadata=dict(outcome.observed),
            )

    return _check


def build_profile_checks() -> list:
    checks = [
        _suite_check("customer_profiles", "gx_customer_profiles", profile_expectations(), profiles_frame),
        _suite_check(
            "customer_consent", "gx_customer_consent", consent_expectations(),
            lambda conn, rel: conn.execute(f"select profile_id, channel, is_consented from {rel}").df(),
        ),
    ]
    return [c for c in checks if c is not None]
