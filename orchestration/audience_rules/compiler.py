"""Compile rule files to dbt models: sqlglot builds the membership query as an AST
(values are literals, never pasted text), the guard vets it, and it is written once,
in SQL every supported warehouse reads alike. Where warehouses disagree on a
construct, the generated model calls a dispatched macro
(dbt_project/macros/portability/expressions.sql) instead of branching on
`target.type`: `a / b` -> `ferry_divide` (PostgreSQL divides integers to an integer),
`round(x, n)` -> `ferry_round` (PostgreSQL has no round(double, int)), `concat` ->
`ferry_concat` (Spark's is null when one part is), a text value holding a quote or a
backslash -> `ferry_string_literal` (Spark's parser reads both its own way), and
`if(c, a, b)` becomes the CASE every dialect has.

Placeholders stand for what only dbt knows (relations, the reference instant, the
dispatched macros) and are swapped for Jinja after rendering: `__ref_<model>` ->
`{{ ref('<model>') }}`, `__ferry_as_of` -> `{{ audiences_as_of() }}`,
`__ferry_days_ago_<n>` -> `{{ audiences_days_ago(<n>) }}`, `__ferry_macro_<n>` -> the
n-th macro call. Rule text can never contain these markers or Jinja.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from orchestration.audience_rules.catalog import (
    EVENT_FILTERS,
    EVENT_MODEL,
    PROFILE_FIELDS,
    PROFILE_MODEL,
    TRAIT_MODEL,
    Catalog,
)
from orchestration.audience_rules.errors import RuleError
from orchestration.audience_rules.lowercase import lowercase_keywords, single_target_on_select_line
from orchestration.audience_rules.rule_file import (
    Event,
    Expression,
    Group,
    Membership,
    Rule,
    Trait,
    parse_rule,
)
from orchestration.audience_rules.sql_guard import TRAIT_ALIAS, check_query, parse_expression

# The dialect the query is rendered in; constructs that mean something else elsewhere
# are macro calls (see the module docstring), so the text runs on every adapter.
RENDER_DIALECT = "duckdb"
CONTACT_FIELDS = {"email": ("email",), "sms": ("phone",), "ads": ("email", "phone"), "none": ()}


def ref(model: str) -> exp.Table:
    return exp.to_table(f"__ref_{model}")


def as_of() -> exp.Column:
    return exp.column("__ferry_as_of")


def days_ago(days: int) -> exp.Column:
    return exp.column(f"__ferry_days_ago_{int(days)}")


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    members_sql: str  # the membership query of the model: one text, Jinja for dbt's parts
    duckdb_sql: str  # the same in plain DuckDB SQL (Jinja for ref/as_of only): previews
    output_columns: tuple[str, ...]
    model_sql: str  # the whole dbt model file
    model_yaml: dict[str, Any]  # the model's entry in the generated YAML


class _Compiler:
    def __init__(self, rule: Rule, known_audiences: set[str], catalog: Catalog) -> None:
        self.rule = rule
        self.known_audiences = known_audiences
        self.catalog = catalog
        self.tables: set[str] = {f"__ref_{TRAIT_MODEL}"}

    def fail(self, key: str, message: str) -> RuleError:
        return RuleError(self.rule.file, key, message)

    # -- literals -----------------------------------------------------------------
    def literal(self, key: str, column_type: str, value: Any) -> exp.Expression:
        if column_type == "bool":
            if not isinstance(value, bool):
                raise self.fail(key, f"expects true or false, got {value!r}")
            return exp.Boolean(this=value)
        if column_type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(key, f"expects a number, got {value!r}")
            return exp.Literal.number(value)
        if column_type in ("date", "timestamp"):
            try:
                parsed = (date if column_type == "date" else datetime).fromisoformat(str(value))
            except ValueError:
                raise self.fail(key, f"expects an ISO {column_type}, got {value!r}") from None
            return exp.cast(
                exp.Literal.string(
                    parsed.isoformat(sep=" ") if column_type == "timestamp" else parsed.isoformat()
                ),
                column_type,
            )
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(key, f"expects text, got {value!r}")
        return exp.Literal.string(str(value))

    # -- conditions ---------------------------------------------------------------
    def trait(self, cond: Trait) -> exp.Expression:
        column_type = self.catalog.traits.get(cond.column)
        if column_type is None:
            raise self.fail(
                f"{cond.key}.trait",
                f"unknown trait column {cond.column!r} (columns of customer_scores, "
                f"{self.catalog.origin})",
            )
        col = exp.column(cond.column, table=TRAIT_ALIAS)
        key = f"{cond.key}.value"
        op = cond.op
        if op == "is_null":
            return exp.Is(this=col, expression=exp.Null())
        if op == "not_null":
            return exp.not_(exp.Is(this=col, expression=exp.Null()))
        if op in ("is_true", "is_false"):
            if column_type != "bool":
                raise self.fail(
                    f"{cond.key}.op", f"{op} needs a boolean column, {cond.column} is {column_type}"
                )
            return exp.EQ(this=col, expression=exp.Boolean(this=op == "is_true"))
        if op in ("contains", "starts_with"):
            if column_type != "text" or not isinstance(cond.value, str):
                raise self.fail(f"{cond.key}.op", f"{op} needs a text column and a text value")
            pattern = f"%{cond.value.lower()}%" if op == "contains" else f"{cond.value.lower()}%"
            return exp.Like(this=exp.Lower(this=col), expression=exp.Literal.string(pattern))
        if op in ("in", "not_in"):
            values = [self.literal(f"{key}[{i}]", column_type, v) for i, v in enumerate(cond.value)]
            node = exp.In(this=col, expressions=values)
            return exp.not_(node) if op == "not_in" else node
        if op == "between":
            low, high = (
                self.literal(f"{key}[{i}]", column_type, v) for i, v in enumerate(cond.value)
            )
            return exp.Between(this=col, low=low, high=high)
        if isinstance(cond.value, list):
            raise self.fail(key, f"op {op} takes a single value")
        if op in ("gt", "gte", "lt", "lte") and column_type in ("text", "bool"):
            raise self.fail(
                f"{cond.key}.op",
                f"{op} needs a number or date column, {cond.column} is {column_type}",
            )
        value = self.literal(key, column_type, cond.value)
        klass = {
            "eq": exp.EQ,
            "ne": exp.NEQ,
            "gt": exp.GT,
            "gte": exp.GTE,
            "lt": exp.LT,
            "lte": exp.LTE,
        }[op]
        return klass(this=col, expression=value)

    def check_event(self, cond: Event) -> None:
        """Event types and categories the timeline knows; a typo would otherwise
        compile to an audience that is silently empty."""
        known = self.catalog.event_types
        for i, event_type in enumerate(cond.event_types):
            if event_type not in known:
                raise self.fail(
                    f"{cond.key}.event" + (f"[{i}]" if len(cond.event_types) > 1 else ""),
                    f"unknown event type {event_type!r}; valid: {', '.join(sorted(known))}",
                )
        category = cond.filters.get("category")
        sets = [self.catalog.categories.get(t) for t in cond.event_types]
        if category is not None and all(c is not None for c in sets):
            valid = frozenset().union(*sets)
            if category.lower() not in valid:
                raise self.fail(
                    f"{cond.key}.category",
                    f"unknown category {category!r} for {', '.join(cond.event_types)}; "
                    f"valid: {', '.join(sorted(valid)) or '(none seen)'}",
                )

    def event(self, cond: Event) -> exp.Expression:
        if cond.at_least == 0 and cond.at_most is None:
            raise self.fail(f"{cond.key}.at_least", "at_least 0 without at_most matches everyone")
        self.check_event(cond)
        self.tables.add(f"__ref_{EVENT_MODEL}")
        e = "e"
        where: list[exp.Expression] = [
            exp.In(
                this=exp.column("event_type", table=e),
                expressions=[exp.Literal.string(t) for t in cond.event_types],
            ),
            exp.LTE(this=exp.column("occurred_at", table=e), expression=as_of()),
        ]
        if cond.in_last_days is not None:
            where.append(
                exp.GT(
                    this=exp.column("occurred_at", table=e), expression=days_ago(cond.in_last_days)
                )
            )
        for column, value in cond.filters.items():
            assert column in EVENT_FILTERS
            where.append(
                exp.EQ(
                    this=exp.Lower(this=exp.column(column, table=e)),
                    expression=exp.Literal.string(value.lower()),
                )
            )

        def counted(having: exp.Expression) -> exp.Select:
            return (
                exp.select(exp.column("profile_id", table=e))
                .from_(exp.alias_(ref(EVENT_MODEL), e, table=True))
                .where(exp.and_(*where))
                .group_by(exp.column("profile_id", table=e))
                .having(having)
            )

        profile = exp.column("profile_id", table=TRAIT_ALIAS)
        count = exp.Count(this=exp.Star())
        parts: list[exp.Expression] = []
        if cond.at_least > 0:
            parts.append(
                exp.In(
                    this=profile,
                    query=counted(
                        exp.GTE(this=count, expression=exp.Literal.number(cond.at_least))
                    ).subquery(),
                )
            )
        if cond.at_most is not None:
            parts.append(
                exp.not_(
                    exp.In(
                        this=profile,
                        query=counted(
                            exp.GT(this=count, expression=exp.Literal.number(cond.at_most))
                        ).subquery(),
                    )
                )
            )
        return exp.and_(*parts) if len(parts) > 1 else parts[0]

    def membership(self, cond: Membership) -> exp.Expression:
        kind = "in_audience" if cond.member else "not_in_audience"
        if cond.audience == self.rule.name:
            raise self.fail(f"{cond.key}.{kind}", "an audience cannot refer to itself")
        if cond.audience not in self.known_audiences:
            raise self.fail(f"{cond.key}.{kind}", f"unknown audience {cond.audience!r}")
        self.tables.add(f"__ref_{cond.audience}")
        sub = exp.select(exp.column("profile_id", table="m")).from_(
            exp.alias_(ref(cond.audience), "m", table=True)
        )
        node = exp.In(this=exp.column("profile_id", table=TRAIT_ALIAS), query=sub.subquery())
        return node if cond.member else exp.not_(node)

    def condition(self, cond: Any) -> exp.Expression:
        if isinstance(cond, Trait):
            return self.trait(cond)
        if isinstance(cond, Event):
            return self.event(cond)
        if isinstance(cond, Membership):
            return self.membership(cond)
        if isinstance(cond, Expression):
            return exp.paren(
                parse_expression(self.rule.file, cond.key, cond.sql, self.catalog.traits)
            )
        if isinstance(cond, Group):
            parts = [self.condition(c) for c in cond.items]
            joined = exp.and_(*parts) if cond.kind == "all" else exp.or_(*parts)
            return exp.paren(joined) if len(parts) > 1 else joined
        raise TypeError(cond)

    def query(self) -> exp.Select:
        where = self.condition(self.rule.conditions)
        if self.rule.exclusions:
            excluded = exp.or_(*[self.condition(c) for c in self.rule.exclusions])
            where = exp.and_(where, exp.not_(exp.paren(excluded)))
        select = (
            exp.select(exp.column("profile_id", table=TRAIT_ALIAS))
            .from_(exp.alias_(ref(TRAIT_MODEL), TRAIT_ALIAS, table=True))
            .where(where)
        )
        check_query(self.rule.file, select, self.tables)
        return select


_PLACEHOLDER = re.compile(
    r"[`\"]?\b(__ref_[a-z][a-z0-9_]*|__ferry_as_of|__ferry_days_ago_\d+|__ferry_macro_\d+)\b[`\"]?"
)


def jinja_string(text: str) -> str:
    """`text` as a Jinja string literal (Jinja unescapes backslash sequences)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


class _Renderer:
    """One query rendered as dbt SQL: placeholders become Jinja, and the constructs
    warehouses disagree on become dispatched macro calls (the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[str] = []  # Jinja expressions of the macro calls, by index

    def expression(self, token: str) -> str:
        """The Jinja expression a placeholder stands for."""
        if token.startswith("__ref_"):
            return f"ref('{token.removeprefix('__ref_')}')"
        if token == "__ferry_as_of":
            return "audiences_as_of()"
        if token.startswith("__ferry_days_ago_"):
            return f"audiences_days_ago({int(token.removeprefix('__ferry_days_ago_'))})"
        return self.calls[int(token.removeprefix("__ferry_macro_"))]

    def value(self, node: exp.Expression) -> str:
        """A SQL fragment as a Jinja expression that evaluates to its text (a macro argument)."""
        sql = lowercase_keywords(node.sql(dialect=RENDER_DIALECT, comments=False), RENDER_DIALECT)
        parts: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(sql):
            if match.start() > position:
                parts.append(jinja_string(sql[position : match.start()]))
            parts.append(self.expression(match.group(1)))
            position = match.end()
        if position < len(sql):
            parts.append(jinja_string(sql[position:]))
        return " ~ ".join(parts) or '""'

    def macro_call(self, node: exp.Expression) -> str | None:
        """The dispatched macro replacing `node`, or None where every warehouse agrees."""
        if isinstance(node, exp.Div):
            return f"ferry_divide({self.value(node.this)}, {self.value(node.expression)})"
        if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
            return f"ferry_round({self.value(node.this)}, {self.value(node.args['decimals'])})"
        if isinstance(node, exp.Concat):
            return f"ferry_concat([{', '.join(self.value(e) for e in node.expressions)}])"
        if (
            isinstance(node, exp.Literal)
            and node.is_string
            and ("'" in node.this or "\\" in node.this)
        ):
            return f"ferry_string_literal({jinja_string(node.this)})"
        return None

    def portable(self, query: exp.Select) -> exp.Select:
        """A copy of `query` with macro placeholders where warehouses disagree."""
        query = query.copy()
        # Reversed breadth-first order visits children before their parents, so a
        # macro's arguments already hold their own macro placeholders.
        for node in reversed(list(query.walk())):
            call = self.macro_call(node)
            if call is not None:
                node.replace(exp.column(f"__ferry_macro_{len(self.calls)}"))
                self.calls.append(call)
        return query

    def template(self, query: exp.Select) -> str:
        sql = query.sql(dialect=RENDER_DIALECT, pretty=True, comments=False, pad=4, indent=4)
        sql = single_target_on_select_line(lowercase_keywords(sql, RENDER_DIALECT))
        return _PLACEHOLDER.sub(lambda m: "{{ " + self.expression(m.group(1)) + " }}", sql)


def render(select: exp.Select) -> tuple[str, str]:
    """(the model's membership query, the same in plain DuckDB spelling)."""
    portable = _Renderer()
    return portable.template(portable.portable(select)), _Renderer().template(select)


# The model each source alias of _output_columns reads (column descriptions).
_MODEL_OF = {"profiles": "customer_profiles", "scores": "customer_scores"}


def _output_columns(rule: Rule, catalog: Catalog) -> list[tuple[str, str]]:
    """(column, source alias) for the model's select list after profile_id and variant."""
    wanted = list(CONTACT_FIELDS[rule.channel]) + [
        f for f in rule.fields if f not in CONTACT_FIELDS[rule.channel]
    ]
    out: list[tuple[str, str]] = []
    for i, name in enumerate(wanted):
        if name in ("profile_id", "variant"):
            continue
        if name in PROFILE_FIELDS:
            out.append((name, "profiles"))
        elif name in catalog.traits:
            out.append((name, "scores"))
        else:
            index = rule.fields.index(name) if name in rule.fields else i
            raise RuleError(
                rule.file,
                f"fields[{index}]",
                f"unknown field {name!r} (profile contact fields or customer_scores traits)",
            )
    return out


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else line for line in text.splitlines())


def _model_sql(rule: Rule, members_sql: str, columns: list[tuple[str, str]]) -> str:
    split = ", ".join(f"'{k}': {v:g}" for k, v in rule.split.items())
    salt = f", salt='{rule.salt}'" if rule.salt else ""
    select_list = ",\n".join(f"        {alias}.{name}" for name, alias in columns)
    contact_filter = {
        "email": "\n    where profiles.email is not null",
        "sms": "\n    where profiles.phone is not null",
        "ads": "\n    where profiles.email is not null or profiles.phone is not null",
        "none": "",
    }[rule.channel]
    return f"""-- Generated by `ferry audiences compile` from {rule.file}; do not edit.
-- {rule.description}
with members as (
{_indent(members_sql, 4)}
),

eligible as (
    select members.profile_id
    from members
    where {{{{ audience_eligible('{rule.channel}', 'members.profile_id') }}}}
),

final as (
    select
        eligible.profile_id,
        {{{{ audience_variant(
            'eligible.profile_id', '{rule.name}', {{{split}}}{salt}
        ) }}}} as variant{"," if columns else ""}
{select_list}
    from eligible
    inner join {{{{ ref('{PROFILE_MODEL}') }}}} as profiles
        on profiles.profile_id = eligible.profile_id
    left join {{{{ ref('{TRAIT_MODEL}') }}}} as scores
        on scores.profile_id = eligible.profile_id{contact_filter}
)

select * from final
"""


def _ferry_meta(rule: Rule, columns: set[str], destinations: set[str] | None) -> dict[str, Any]:
    meta = dict(rule.sync)
    if meta.get("channel", rule.channel) != rule.channel:
        raise RuleError(
            rule.file,
            "sync.channel",
            f"must match the rule's channel {rule.channel!r} (or be left out)",
        )
    meta["channel"] = rule.channel
    meta.setdefault("key", "profile_id")
    for key in ("key", "occurrence"):
        if meta.get(key) is not None and meta[key] not in columns:
            raise RuleError(
                rule.file,
                f"sync.{key}",
                f"{meta[key]!r} is not an output column ({', '.join(sorted(columns))})",
            )
    syncs = meta.get("syncs") or []
    if not isinstance(syncs, list):
        raise RuleError(rule.file, "sync.syncs", "must be a list")
    for i, entry in enumerate(syncs):
        if not isinstance(entry, dict):
            raise RuleError(rule.file, f"sync.syncs[{i}]", "must be a mapping")
        if destinations is not None and entry.get("destination") not in destinations:
            raise RuleError(
                rule.file,
                f"sync.syncs[{i}].destination",
                f"{entry.get('destination')!r} is not declared in destinations.yml",
            )
        for part in ("identifiers", "fields"):
            for dest_field, column in (entry.get(part) or {}).items():
                col = column.get("column") if isinstance(column, dict) else column
                if col not in columns:
                    raise RuleError(
                        rule.file,
                        f"sync.syncs[{i}].{part}.{dest_field}",
                        f"{col!r} is not an output column ({', '.join(sorted(columns))})",
                    )
    try:  # the sync engine's own validation, when that package is present
        from pydantic import ValidationError

        from syncs.config import FerryMeta
    except ImportError:  # pragma: no cover - syncs ships in the same repo
        return meta
    try:
        FerryMeta.model_validate(meta)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise RuleError(rule.file, f"sync.{loc}", first["msg"]) from None
    if any(s.get("mode") == "send" for s in syncs) and rule.channel == "none":
        raise RuleError(
            rule.file, "sync.syncs", "send mode needs a consent channel (email, sms or ads)"
        )
    return meta


def compile_rule(
    rule: Rule,
    known_audiences: set[str],
    destinations: set[str] | None = None,
    catalog: Catalog | None = None,
) -> CompiledRule:
    """Compile one parsed rule. `known_audiences`: model names membership may refer to;
    `catalog`: trait columns and event types (default: the project's, load_catalog)."""
    if catalog is None:
        from orchestration.audience_rules.catalog import load_catalog
        from orchestration.paths import DBT_PROJECT_DIR

        catalog = load_catalog(DBT_PROJECT_DIR)
    compiler = _Compiler(rule, known_audiences, catalog)
    select = compiler.query()
    members_sql, duckdb_sql = render(select)
    columns = _output_columns(rule, catalog)
    names = ("profile_id", "variant", *(c for c, _ in columns))
    meta = _ferry_meta(rule, set(names), destinations)
    yaml_entry = {
        "name": rule.name,
        "description": rule.description,
        "config": {"meta": {"ferry": meta}},
        "columns": [
            {
                "name": "profile_id",
                "description": "{{ doc('profile_id') }}",
                "data_tests": ["unique", "not_null"],
            },
            {
                "name": "variant",
                "description": "{{ doc('variant') }}",
                "data_tests": ["not_null"],
            },
            *(
                {"name": column, "description": f"The member's {column}, from {_MODEL_OF[alias]}."}
                for column, alias in columns
            ),
        ],
    }
    return CompiledRule(
        rule, members_sql, duckdb_sql, names, _model_sql(rule, members_sql, columns), yaml_entry
    )


def load_rule_file(path: Path, root: Path | None = None) -> Rule:
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RuleError(shown, "(yaml)", f"not valid YAML: {error}") from None
    return parse_rule(shown, raw)


def _dependency_order(rules: list[Rule]) -> list[Rule]:
    """Rules that refer to other rules come after them; a cycle is an error."""
    by_name = {r.name: r for r in rules}
    refs: dict[str, list[tuple[str, str]]] = {r.name: [] for r in rules}

    def walk(rule: Rule, cond: Any) -> None:
        if isinstance(cond, Membership) and cond.audience in by_name:
            refs[rule.name].append((cond.audience, cond.key))
        if isinstance(cond, Group):
            for c in cond.items:
                walk(rule, c)

    for rule in rules:
        walk(rule, rule.conditions)
        for c in rule.exclusions:
            walk(rule, c)
    order: list[Rule] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "active":
            rule = by_name[path[-1]]
            key = next(k for target, k in refs[rule.name] if target == name)
            raise RuleError(rule.file, key, f"audience cycle: {' -> '.join(path + [name])}")
        state[name] = "active"
        for target, _ in refs[name]:
            visit(target, path + [name])
        state[name] = "done"
        order.append(by_name[name])

    for rule in rules:
        visit(rule.name, [])
    return order


def compile_rules_dir(
    rules_dir: Path,
    existing_audiences: set[str],
    destinations: set[str] | None = None,
    root: Path | None = None,
    catalog: Catalog | None = None,
) -> list[CompiledRule]:
    """Compile every *.yml/*.yaml under rules_dir. Names must be unique and must not
    clash with hand-written audiences."""
    files = (
        sorted([*rules_dir.rglob("*.yml"), *rules_dir.rglob("*.yaml")])
        if rules_dir.exists()
        else []
    )
    rules = [load_rule_file(path, root) for path in files]
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.name in existing_audiences:
            raise RuleError(
                rule.file, "name", f"{rule.name!r} is already a hand-written audience model"
            )
        if rule.name in seen:
            raise RuleError(
                rule.file, "name", f"{rule.name!r} is already defined in {seen[rule.name]}"
            )
        seen[rule.name] = rule.file
    known = set(existing_audiences) | set(seen)
    return [compile_rule(rule, known, destinations, catalog) for rule in _dependency_order(rules)]
