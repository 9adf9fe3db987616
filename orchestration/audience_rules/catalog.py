"""What rules may touch: known models, their columns and types, allowed functions.

An explicit allow-list, not a reflection of the warehouse: a rule can only read
the trait table (customer_scores), the event timeline (customer_events), profile
fields for output, and other audiences' membership. Anything else is refused.
"""

from __future__ import annotations

# Trait columns of marts.customer_scores, with a coarse type for operator checks.
TRAIT_COLUMNS: dict[str, str] = {
    "profile_id": "text",
    "country": "text",
    "city": "text",
    "company": "text",
    "job_title": "text",
    "owner_name": "text",
    "owner_email": "text",
    "preferred_store": "text",
    "loyalty_status": "text",
    "loyalty_points": "number",
    "birth_date": "date",
    "first_touch_source": "text",
    "first_touch_channel": "text",
    "first_touch_utm_source": "text",
    "first_touch_utm_medium": "text",
    "first_touch_utm_campaign": "text",
    "first_touch_at": "timestamp",
    "first_order_at": "timestamp",
    "last_order_at": "timestamp",
    "lifetime_orders": "number",
    "days_since_last_order": "number",
    "usual_order_interval_days": "number",
    "churn_ratio": "number",
    "rfm_recency_days": "number",
    "rfm_order_count": "number",
    "rfm_monetary_value": "number",
    "rfm_recency": "number",
    "rfm_frequency": "number",
    "rfm_monetary": "number",
    "rfm_score": "text",
    "rfm_segment": "text",
    "behavioural_score": "number",
    "email_engagements": "number",
    "last_activity_at": "timestamp",
    "main_interest": "text",
    "main_interest_score": "number",
    "trial_started_at": "timestamp",
    "product_plan": "text",
    "trial_ends_at": "timestamp",
    "is_on_trial": "bool",
    "trial_days_active": "number",
    "trial_logins": "number",
    "trial_features_used": "number",
    "trial_last_login_at": "timestamp",
    "trial_days_inactive": "number",
    "is_trial_inactive": "bool",
    "sales_signals": "number",
    "customer_since": "date",
    "customer_tenure_days": "number",
    "lifecycle_stage": "text",
    "churn_risk": "text",
    "churn_reason": "text",
    "next_birthday": "date",
    "days_until_birthday": "number",
    "icp_rules_matched": "number",
    "is_target_fit": "bool",
}

# Contact fields only customer_profiles holds (output fields, never filters on PII).
PROFILE_FIELDS: tuple[str, ...] = (
    "email", "phone", "first_name", "last_name", "postcode", "email_is_valid", "phone_is_valid",
)  # fmt: skip

# customer_events columns an event condition may filter on.
EVENT_FILTERS: dict[str, str] = {"category": "text", "source": "text", "channel": "text"}

TRAIT_MODEL = "customer_scores"
EVENT_MODEL = "customer_events"
PROFILE_MODEL = "customer_profiles"

# sqlglot expression classes allowed inside a free-form `expression`: comparisons,
# boolean logic, arithmetic, literals, columns, and a few pure scalar functions.
ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        "Lower", "Upper", "Trim", "Length", "Coalesce", "Abs", "Round", "Floor", "Ceil",
        "Substring", "Concat", "DPipe", "Least", "Greatest", "If", "Nullif", "Case",
    }
)  # fmt: skip

# Structural nodes allowed in expressions (no subqueries, tables, DDL/DML, commands).
ALLOWED_NODES: frozenset[str] = frozenset(
    {
        "Column", "Identifier", "Literal", "Boolean", "Null", "Paren", "Neg", "Not",
        "And", "Or", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "Is", "In", "Between",
        "Like", "ILike", "Add", "Sub", "Mul", "Div", "Mod", "Tuple", "When", "Ifs",
    }
)  # fmt: skip
