"""Identity quality on generated data with the CRM's own duplicates, kind by kind.

    python -m benchmarks.identity_crm_duplicates [--people 5000] [--seed 42] [--share 0.08]

Generates the sample data twice (the default, and with --crm-duplicate-share: one
person entered again by another salesperson, names swapped, first name replaced,
no birth date, street abbreviated, postcode typo, an import run twice, a lead
converted), builds each with `dbt build` (no tests), and scores it with
`ferry evaluate`: precision / recall overall, recall per duplicate kind, recall on
the CRM's internal pairs. Then the fuzzy decisions are rebuilt with var
fuzzy_first_name_evidence: false (another first name always waits for review) to
measure what deciding from evidence changes: replaced first names found vs
different people merged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, run_measured, write_results

BIN = Path(sys.executable).parent
AS_OF = "2026-11-25"


def _dbt(db: Path, work: Path, args: list[str], dbt_vars: dict[str, Any]) -> None:
    m = run_measured(
        [str(BIN / "dbt"), *args, "--exclude", "test_type:unit", "resource_type:test",
         "--vars", json.dumps({"ferry_as_of": AS_OF, **dbt_vars}),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet"],
        env={"FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_TARGET": "duckdb"}, cwd=ROOT / "dbt_project",
    )  # fmt: skip
    if m.returncode:
        raise SystemExit(f"dbt {' '.join(args)} failed")


def _evaluate(db: Path) -> dict[str, Any]:
    out = db.with_suffix(".json")
    m = run_measured([str(BIN / "ferry"), "evaluate", "--duckdb", str(db), "--output", str(out)])
    if m.returncode:
        raise SystemExit("ferry evaluate failed")
    return json.loads(out.read_text())


def _build(work: Path, name: str, people: int, seed: int, share: float) -> Path:
    db = work / f"{name}.duckdb"
    m = run_measured(
        [str(BIN / "ferry"), "generate", "--people", str(people), "--seed", str(seed),
         "--as-of", AS_OF, "--crm-duplicate-share", str(share)],
        env={"FERRY_DUCKDB_PATH": str(db)},
    )  # fmt: skip
    if m.returncode:
        raise SystemExit("ferry generate failed")
    _dbt(db, work / name, ["build"], {})
    return db


def _without_evidence(work: Path, db: Path) -> dict[str, Any]:
    copy = db.with_name(db.stem + "_no_evidence.duckdb")
    shutil.copyfile(db, copy)
    _dbt(copy, work / copy.stem, ["run", "--select", "int_fuzzy_pair_decisions+"],
         {"fuzzy_first_name_evidence": False})  # fmt: skip
    return _evaluate(copy)


def _crm_kinds(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in r["duplicate_recall"].items() if k.startswith("crm_") and v["pairs"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--share", type=float, default=0.08)
    args = parser.parse_args(argv)
    label = f"{args.people:,} people, seed {args.seed}"
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-crm-") as tmp:
        work = Path(tmp)
        default = _build(work, "default", args.people, args.seed, 0.0)
        messy = _build(work, "crm", args.people, args.seed, args.share)
        r_default, r_messy = _evaluate(default), _evaluate(messy)
        n_default, n_messy = _without_evidence(work, default), _without_evidence(work, messy)
    crm = r_messy["within_source_recall"]["crm_contacts"]
    rows += [
        {"what": f"default data ({label}): pairwise precision / recall",
         "value": f"{r_default['precision']:.4f} / {r_default['recall']:.4f}", "unit": "P / R"},
        {"what": f"with --crm-duplicate-share {args.share} ({label}): pairwise precision / recall",
         "value": f"{r_messy['precision']:.4f} / {r_messy['recall']:.4f}", "unit": "P / R",
         "target": ">= 0.995 / >= 0.97"},
        {"what": f"with --crm-duplicate-share {args.share}: recall on CRM-internal pairs "
                 f"({crm['pairs']:,} pairs)",
         "value": crm["recall"], "unit": "R", "target": ">= 0.95"},
    ]  # fmt: skip
    for kind, d in _crm_kinds(r_messy).items():
        rows.append(
            {"what": f"with --crm-duplicate-share {args.share}: recall on pairs with a "
                     f"{kind.removeprefix('crm_').replace('_', ' ')} duplicate ({d['pairs']:,} pairs)",
             "value": d["recall"], "unit": "R"}
        )  # fmt: skip
    for name, before, after in (("default data", n_default, r_default),
                                (f"--crm-duplicate-share {args.share}", n_messy, r_messy)):  # fmt: skip
        replaced = after["duplicate_recall"].get("crm_first_name_replaced", {})
        replaced_before = before["duplicate_recall"].get("crm_first_name_replaced", {})
        rows.append(
            {"what": f"another first name decided from evidence ({name}): wrongly merged pairs "
                     "(predicted - correct) with / without the evidence rule",
             "value": f"{after['predicted_pairs'] - after['correct_pairs']:,} / "
                      f"{before['predicted_pairs'] - before['correct_pairs']:,}", "unit": "pairs"}
        )  # fmt: skip
        if replaced.get("pairs"):
            rows.append(
                {"what": f"another first name decided from evidence ({name}): recall on replaced "
                         "first names with / without the evidence rule",
                 "value": f"{replaced['recall']:.4f} / {replaced_before['recall']:.4f}", "unit": "R"}
            )  # fmt: skip
    for row in rows:
        print(f"{row['what']}: {row['value']}")
    write_results("identity_crm_duplicates", rows, notes=[
        f"ferry generate --people {args.people} --seed {args.seed} --as-of {AS_OF} "
        f"[--crm-duplicate-share {args.share}], dbt build (no tests), ferry evaluate.",
        "Without the evidence rule: int_fuzzy_pair_decisions+ rebuilt with var "
        "fuzzy_first_name_evidence: false (the former blanket review of another first name).",
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
