"""Reading an import file row by row: CSV with a header line, or JSON Lines.

The file is streamed: one row is in memory at a time, whatever the file's size, and a
line is read up to `MAX_LINE_BYTES` (the rest of an over-long line is skipped, never
held). Every row comes out as a `Row` (its values by column, with its line number) or
a `BadRow` (line, field, reason, and the row as it was in the file, for the rejects
file): bytes that are not UTF-8, broken CSV quoting, a row with more or fewer fields
than the header, a JSON line that is not an object. Nothing in a file raises, except a
file that cannot be opened or a CSV header that names a column twice (`ImportFileError`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from journeys.errors import JourneyflowError

Format = Literal["csv", "jsonl"]
MAX_LINE_BYTES = 1_000_000
# What `surrogateescape` turns bytes that are not UTF-8 into.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANY_BAD = re.compile("[\x00\ud800-\udfff]")
# JSON escapes that may hide a NUL or a lone surrogate in a valid line.
_ESCAPES = re.compile(rb"\\u(0000|[dD][89a-fA-F])")


class ImportFileError(JourneyflowError):
    """The file as a whole cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    values: dict[str, Any]
    original: list[str] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    field: str  # '' when the row as a whole is bad
    reason: str
    original: list[str] | dict[str, Any] | str


# A row as read, before it is checked: a CSV row's cells (`csv_row` checks them), a
# JSON line's object, or what is wrong with the row. Plain values: cheap to send to
# the process that checks them.
Raw = list[str] | dict[str, Any] | BadRow


def format_of(path: Path, given: str | None = None) -> Format:
    """The format named, else the one the file's extension says."""
    name = (given or path.suffix.lstrip(".")).lower()
    if name in ("csv", "txt"):
        return "csv"
    if name in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise ImportFileError(
        f"{path}: cannot tell the format from '{path.suffix or 'no extension'}'; "
        "pass --format csv or --format jsonl"
    )


class RowReader:
    """The rows of a file, in file order; `header` (CSV) once the first row is read,
    `position` the bytes read so far (for a progress bar)."""

    def __init__(self, path: Path, fmt: Format) -> None:
        self.path = path
        self.format = fmt
        self.header: list[str] | None = None
        try:
            self._handle = path.open("rb")
            self.size = os.fstat(self._handle.fileno()).st_size
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot read the file: {exc.strerror}") from None

    @property
    def position(self) -> int:
        return 0 if self._handle.closed else self._handle.tell()

    def __iter__(self) -> Iterator[Row | BadRow]:
        for line, raw in self.raw():
            if isinstance(raw, list):
                assert self.header is not None
                yield csv_row(self.header, line, raw)
            elif isinstance(raw, dict):
                yield Row(line, raw, raw)
            else:
                yield raw

    def raw(self) -> Iterator[tuple[int, Raw]]:
        """Each row as read (`Raw`) with its first line."""
        with self._handle:
            if self.format == "csv":
                yield from self._csv_rows()
            else:
                yield from _jsonl_rows(self._handle)

    def _csv_rows(self) -> Iterator[tuple[int, Raw]]:
        lines = _Lines(self._handle)
        reader = csv.reader(lines, strict=True)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # broken quoting, a field over the csv module's limit
                text = lines.text()
                start = lines.take_start()
                yield start, BadRow(start, "", f"not valid CSV: {exc}", text)
                continue
            start = lines.take_start()
            if not fields or fields == [""]:
                continue
            if lines.overlong:
                too_long = [n for n in range(start, lines.number + 1) if n in lines.overlong]
                lines.overlong.difference_update(too_long)
                if too_long:
                    reason = f"a line over {MAX_LINE_BYTES:,} bytes"
                    yield start, BadRow(start, "", reason, fields)
                    continue
            if self.header is None:
                self.header = _header(self.path, fields)
                continue
            yield start, fields


def read_rows(path: Path, fmt: Format) -> Iterator[Row | BadRow]:
    """The rows of `path` in file order (see the module docstring)."""
    return iter(RowReader(path, fmt))


class _Lines:
    """Text lines of a binary file, each cut at `MAX_LINE_BYTES`, counted for csv."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.number = 0
        self.row_start: int | None = None  # the first non-blank line of the row being read
        self._text: list[str] = []  # the row's lines as read, kept up to `MAX_LINE_BYTES`
        self._kept = 0
        self.overlong: set[int] = set()
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")

    def take_start(self) -> int:
        """The first line of the row just read; the next row starts afresh."""
        start, self.row_start = self.row_start or self.number, None
        self._text, self._kept = [], 0
        return start

    def text(self) -> str:
        """The row's lines as they were in the file (before `take_start`)."""
        return "".join(self._text).rstrip("\r\n")

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                raw = self._handle.readline(MAX_LINE_BYTES + 1)
            self.overlong.add(self.number)
            raw = b"\n"
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]  # spreadsheets write one
        if self.row_start is None and raw.strip():
            self.row_start = self.number
        # Whole lines only, so the decoder never holds a partial character across lines:
        # a line that ends in a newline decodes alone the same, without the decoder's
        # Python-level wrapper; only a last line without one goes through it.
        if raw.endswith(b"\n"):
            line = raw.decode("utf-8", "surrogateescape")
        else:
            line = self._decoder.decode(raw)
        if self.row_start is not None and self._kept < MAX_LINE_BYTES:
            self._text.append(line)
            self._kept += len(line)
        return line


def csv_row(header: Sequence[str], start: int, fields: list[str]) -> Row | BadRow:
    """A CSV row's cells as a `Row` under the header, or a `BadRow` saying why not."""
    problem = cells_problem(header, fields)
    if problem is not None:
        return BadRow(start, *problem, fields)
    return Row(start, dict(zip(header, fields, strict=True)), fields)


def cells_problem(header: Sequence[str], fields: Sequence[str]) -> tuple[str, str] | None:
    """Why a CSV row's cells are no row (the field, '' for the row, and the reason):
    a cell that is not text, or more or fewer cells than the header has."""
    if _ANY_BAD.search("".join(fields)) is not None:  # the usual case: one scan
        for i, value in enumerate(fields):
            reason = _not_text(value)
            if reason:
                return (header[i] if i < len(header) else f"field {i + 1}", reason)
    if len(fields) != len(header):
        return "", f"{len(fields)} fields, the header has {len(header)}"
    return None


def _header(path: Path, fields: list[str]) -> list[str]:
    names = [name.strip() for name in fields]
    if any(_NOT_UTF8.search(name) for name in names):
        raise ImportFileError(f"{path}:1: the header line is not UTF-8")
    seen: set[str] = set()
    for name in names:
        if not name:
            raise ImportFileError(f"{path}: the header has an empty column name")
        if name in seen:
            raise ImportFileError(f"{path}: the header names the column '{name}' twice")
        seen.add(name)
    return names


def _jsonl_rows(handle: BinaryIO) -> Iterator[tuple[int, Raw]]:
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(MAX_LINE_BYTES + 1)
            yield number, BadRow(number, "", f"a line over {MAX_LINE_BYTES:,} bytes", "")
            continue
        if not raw.strip():
            continue
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield number, BadRow(number, "", f"not UTF-8 (byte {exc.start + 1} of the line)", text)
            continue
        except (ValueError, RecursionError) as exc:
            yield number, BadRow(number, "", f"not JSON: {exc}", text)
            continue
        if not isinstance(value, dict):
            yield (
                number,
                BadRow(number, "", f"expected an object, got {type(value).__name__}", text),
            )
            continue
        if _ESCAPES.search(raw):  # rare: only then look at every string
            reason = _not_text(json.dumps(value, ensure_ascii=False))
            if reason:
                yield number, BadRow(number, "", reason, text)
                continue
        yield number, value


def _not_text(value: str) -> str | None:
    """Why a value cannot be stored as text: a NUL, or what was not UTF-8."""
    if _ANY_BAD.search(value) is None:  # the usual case: one scan
        return None
    if "\x00" in value:
        return "a NUL character, not text"
    if _NOT_UTF8.search(value):
        return "not UTF-8"
    if _SURROGATE.search(value):
        return "a lone surrogate (\\ud800-\\udfff), not text"
    return None


def text_of(original: list[str] | dict[str, Any] | str) -> str:
    """A row as one line of text (for messages)."""
    if isinstance(original, str):
        return original
    if isinstance(original, dict):
        return json.dumps(original, ensure_ascii=False)
    out = io.StringIO()
    csv.writer(out).writerow(original)
    return out.getvalue().rstrip("\r\n")
