"""The rejects file: every row an import refused, as it was, with its line and why.

Beside the input: `customers.csv` → `customers.rejects.csv`, `consent.jsonl` →
`consent.rejects.jsonl`. CSV rows get three columns in front, `_line`, `_field` and
`_reason`, then the row's own fields under the file's header; a JSON line gets the
same three keys added. An import ignores columns whose name starts with `_`, so the
rejects file, corrected, imports as it is. Bytes that were not UTF-8 are written back
as they were. The file is created with the first reject; an earlier run's rejects file
is removed at the start, so what is there always belongs to the last run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any

from .import_file import BadRow, Format, text_of

KEEP_FIRST = 5
_COLUMNS = ["_line", "_field", "_reason"]


def rejects_path(path: Path, fmt: Format) -> Path:
    return path.with_name(f"{path.stem}.rejects.{fmt}")


class Rejects:
    """Writes refused rows as they come; counts them and keeps the first few messages."""

    def __init__(self, source: Path, fmt: Format, *, write: bool = True) -> None:
        self.source = source
        self.format = fmt
        self.path = rejects_path(source, fmt)
        self.count = 0
        self.first: list[str] = []
        self._write = write
        self._handle: IO[str] | None = None
        self._csv: Any = None
        if write:
            self.path.unlink(missing_ok=True)

    def add(self, bad: BadRow, header: list[str] | None) -> None:
        self.count += 1
        field = f"{bad.field}: " if bad.field else ""
        if len(self.first) < KEEP_FIRST:
            self.first.append(f"{self.source}:{bad.line}: {field}{bad.reason}")
        if not self._write:
            return
        if self._handle is None:
            # surrogateescape: the bytes that were not UTF-8 go back as they came.
            self._handle = self.path.open(
                "w", encoding="utf-8", errors="surrogateescape", newline=""
            )
            if self.format == "csv":
                self._csv = csv.writer(self._handle)
                self._csv.writerow([*_COLUMNS, *(header or [])])
        meta = [bad.line, bad.field, bad.reason]
        if self.format == "csv":
            original = bad.original
            cells = original if isinstance(original, list) else [text_of(original)]
            self._csv.writerow([*meta, *cells])
        else:
            original = bad.original
            record: dict[str, Any] = dict(zip(_COLUMNS, meta, strict=True))
            if isinstance(original, dict):
                record.update(original)
            else:
                record["_text"] = text_of(original)
            line = json.dumps(record, ensure_ascii=False)
            try:
                self._handle.write(line + "\n")
            except UnicodeEncodeError:  # a lone surrogate: escaped, the line stays JSON
                self._handle.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @property
    def written(self) -> Path | None:
        return self.path if self._write and self.count else None
