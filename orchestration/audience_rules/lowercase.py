"""sqlglot's output in the house style: lowercase keywords and function names, like
every hand-written model, and one select target on its select line.

sqlglot renders keywords in UPPERCASE and has no option to do otherwise; the
project's SQL is lowercase (house style, and the sqlfluff capitalisation rules).
Only keyword and function-name tokens change: string literals, quoted and
unquoted identifiers keep their spelling, so the query means the same.
"""

from __future__ import annotations

import sqlglot
from sqlglot.tokens import TokenType

# Token types whose text is data, not SQL words: never touched.
_VERBATIM = {
    TokenType.STRING,
    TokenType.IDENTIFIER,
    TokenType.NUMBER,
    TokenType.NATIONAL_STRING,
    TokenType.RAW_STRING,
    TokenType.HEX_STRING,
    TokenType.BIT_STRING,
    TokenType.BYTE_STRING,
    TokenType.HEREDOC_STRING,
    TokenType.UNICODE_STRING,
}


def lowercase_keywords(sql: str, dialect: str) -> str:
    """``sql`` with keywords and function names lowercased (identifiers and literals as they were)."""
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    out = list(sql)
    for i, token in enumerate(tokens):
        if token.token_type in _VERBATIM:
            continue
        if token.token_type == TokenType.VAR:
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            if following is None or following.token_type != TokenType.L_PAREN:
                continue  # an unquoted identifier, not a function name
        out[token.start : token.end + 1] = sql[token.start : token.end + 1].lower()
    return "".join(out)


def single_target_on_select_line(sql: str) -> str:
    """``select\\n    x\\nfrom`` as ``select x\\nfrom``: one select target stays on its
    ``select`` line (sqlfluff LT09, as the hand-written models); sqlglot's pretty
    output always breaks the line."""
    lines = sql.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if (
            line.strip() in ("select", "select distinct")
            and i + 2 < len(lines)
            and not lines[i + 1].rstrip().endswith(",")
            and lines[i + 2].strip().split(" ")[0] in ("from", ")")
        ):
            out.append(f"{line.rstrip()} {lines[i + 1].strip()}")
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out)
