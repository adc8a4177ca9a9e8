"""Reading the CSV tables shipped in `compliance/data/`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from importlib import resources


def read_rows(name: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) for each data row of a shipped CSV file."""
    text = resources.files("leadwire.compliance.data").joinpath(name).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        yield reader.line_num, {key: (value or "").strip() for key, value in row.items()}
