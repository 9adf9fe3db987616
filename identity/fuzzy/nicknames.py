"""The nickname lookup, read from the dbt seed outside dbt (training, benchmarks).

Inside dbt the seed is read with ref('fuzzy_nicknames'); both paths hand the
same two columns to features.prepare_features.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv


def read_nicknames(path: str | Path) -> pa.Table:
    table = pacsv.read_csv(
        str(path),
        convert_options=pacsv.ConvertOptions(
            column_types={"nickname": pa.string(), "canonical_name": pa.string()}
        ),
    )
    missing = {"nickname", "canonical_name"} - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return table.select(["nickname", "canonical_name"])
