"""Render benchmarks/results/*.json as the README's benchmark table.

The table sits between `<!-- bench:start -->` and `<!-- bench:end -->` in
README.md, so numbers in the README are always the last measured ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, ROOT

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def _rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(payload.get("rows"), list):
        return payload["rows"]
    # Lenient fallback for a flat {metric: value} file.
    return [{"what": k, "value": v} for k, v in payload.items() if isinstance(v, (int, float))]


def render() -> str:
    lines = [
        "| benchmark | measure | value | unit | target | peer | ratio (Ferry / peer) | measured |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        payload = json.loads(path.read_text())
        when = str(payload.get("measured_at", ""))[:10]
        for row in _rows(payload):
            peer = row.get("peer")
            if peer and row.get("peer_value") is not None:
                peer = f"{peer}: {_fmt(row['peer_value'])}"
            lines.append(
                "| {b} | {w} | {v} | {u} | {t} | {p} | {r} | {d} |".format(
                    b=payload.get("benchmark", path.stem), w=row.get("what", ""), v=_fmt(row.get("value")),
                    u=row.get("unit", ""), t=row.get("target", ""), p=peer or "", r=_fmt(row.get("ratio")), d=when,
                )
            )
    return "\n".join(lines)


def update_readme(readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    table = f"{START}\n{render()}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + table + tail
    else:
        text = text.rstrip() + "\n\n## Benchmarks\n\n" + table + "\n"
    readme.write_text(text)


if __name__ == "__main__":
    update_readme()
