"""sqlglot checks: a free-form expression is one boolean expression over known trait
columns and allow-listed functions; a whole generated query reads only known
models. Anything else (DDL/DML, stacked statements, subqueries, other schemas,
unknown functions) is refused with a RuleError naming the file and key."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from orchestration.audience_rules.catalog import ALLOWED_FUNCTIONS, ALLOWED_NODES
from orchestration.audience_rules.errors import RuleError

TRAIT_ALIAS = "s"


def parse_expression(file: str, key: str, sql: str, traits: dict[str, str]) -> exp.Expression:
    """Parse and vet a rule's `expression`; return it with columns qualified by the trait alias."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except (ParseError, TokenError) as error:
        raise RuleError(file, key, f"not valid SQL: {str(error).splitlines()[0]}") from None
    if len(statements) != 1:
        raise RuleError(file, key, "stacked statements are refused: give one boolean expression")
    node = statements[0]
    if isinstance(node, exp.Query) or not isinstance(node, exp.Condition):
        raise RuleError(
            file,
            key,
            f"{node.key.upper()} statements are refused: only a boolean expression is allowed",
        )
    for sub in node.walk():
        name = type(sub).__name__
        if isinstance(sub, (exp.Subquery, exp.Select, exp.Table, exp.Query)):
            raise RuleError(file, key, "subqueries and table references are refused")
        if isinstance(sub, exp.Anonymous):
            raise RuleError(file, key, f"function {sub.name!r} is not allowed")
        if (
            isinstance(sub, exp.Func)
            and name not in ALLOWED_FUNCTIONS
            and name not in ALLOWED_NODES
        ):
            raise RuleError(file, key, f"function {sub.sql_name()!r} is not allowed")
        if name not in ALLOWED_NODES and name not in ALLOWED_FUNCTIONS:
            raise RuleError(file, key, f"{name} is not allowed in a rule expression")
        if isinstance(sub, exp.Column):
            if sub.table or sub.args.get("db") or sub.args.get("catalog"):
                raise RuleError(
                    file, key, f"column {sub.sql()!r}: use plain trait column names, no qualifiers"
                )
            if sub.name not in traits:
                raise RuleError(
                    file,
                    key,
                    f"unknown column {sub.name!r} (trait columns of customer_scores only)",
                )
    if isinstance(node, (exp.Column, exp.Literal)) and not (
        isinstance(node, exp.Column) and traits.get(node.name) == "bool"
    ):
        raise RuleError(
            file, key, "must be a boolean expression (a comparison or a boolean column)"
        )
    for comment_holder in node.walk():
        comment_holder.comments = None
    return node.transform(
        lambda n: exp.column(n.name, table=TRAIT_ALIAS) if isinstance(n, exp.Column) else n
    )


# Node classes the compiler itself emits in the full query, besides ALLOWED_NODES.
QUERY_NODES = frozenset(
    {"Select", "From", "Where", "Group", "Having", "Table", "TableAlias", "Alias", "Count",
     "Subquery", "Cast", "DataType", "Like", "Lower", "Star"}
)  # fmt: skip


def check_query(file: str, query: exp.Expression, allowed_tables: set[str]) -> None:
    """Defence in depth over the whole compiled query: SELECT only, known tables only."""
    if not isinstance(query, exp.Select):
        raise RuleError(file, "(compiled)", "compiled query is not a SELECT")
    for node in query.walk():
        name = type(node).__name__
        if isinstance(node, exp.Table):
            if node.args.get("db") or node.args.get("catalog"):
                raise RuleError(file, "(compiled)", f"table {node.sql()!r} names a schema")
            if node.name not in allowed_tables:
                raise RuleError(file, "(compiled)", f"table {node.name!r} is not a known model")
        elif isinstance(node, (exp.DDL, exp.DML, exp.Command)):
            raise RuleError(file, "(compiled)", f"{name} is refused")
        elif isinstance(node, exp.Anonymous):
            raise RuleError(file, "(compiled)", f"function {node.name!r} is not allowed")
        elif (
            name not in ALLOWED_NODES and name not in ALLOWED_FUNCTIONS and name not in QUERY_NODES
        ):
            raise RuleError(file, "(compiled)", f"{name} is not allowed")
