"""Loan-tape import: read, validate and load the tables of one import, all or nothing.

The contract is ``/work/shared/spec/loan-tape.md``. Three layers:

* :func:`read_table` reads one CSV (UTF-8, UTF-8 with BOM, or GBK/GB18030) or Parquet file into a
  :class:`RawTable`: every value kept as text (Parquet keeps its types), the known columns only,
  each row with the line number a user sees in the file. Structural problems (empty file, header
  only, a line with the wrong number of values, an unterminated quote) become
  :class:`Rejection` s, never exceptions.
* :func:`load_tables` validates every table of the import (vectorised with pandas), and only
  when nothing is rejected writes them on the caller's connection, inside the caller's
  transaction. It never commits: the caller commits when ``report.ok`` and rolls back otherwise.
* :func:`load_files` is the all-or-nothing wrapper: it reads the files, opens one transaction,
  calls :func:`load_tables`, and commits only a clean import.

Decisions this module makes (documented here so the app and the command line can say them):

* A stored loan sent again with identical fixed columns is skipped and counted unchanged; one
  whose fixed columns differ is rejected, one rejection per differing column, naming the stored
  and the new value. All loan columns of the tape are fixed columns.
* A customer already stored is **updated**: the stored row is replaced by the file's row (the
  lender's latest name, phone, income, ...). A note counts the customers replaced.
* Collections (``case_id``) and inspections (``inspection_id``) already stored are replaced by
  the file's rows likewise, with a note.
* Performance rows for a (loan, month) already stored are replaced, never duplicated, with one
  note per month: ``performance 2024-03: replaced 1,234 stored rows``. On PostgreSQL the stored
  rows are deleted and the file's inserted; on DuckDB they are updated in place (every column
  but the key and the loan's fixed columns), because deleting many rows of a table with a
  primary key makes DuckDB's commit take minutes. Either way the row afterwards is the file's.
* Each performance row is written with its loan's fixed ``region_code``, ``branch_id``,
  ``product``, ``segment`` and its ``cohort`` (the last day of the disbursement month), from
  the loans of the import or the stored loans; a month re-load leaves them as they are.
* A loan's customer_id need not resolve to a stored customer (the customers table is optional).
* Branches are created from the new loans (distinct ``branch_id`` with its region); their
  ``name`` is left null (the app shows the branch id). A branch already stored is left as it is.
* Text values are stripped of surrounding blanks; a blank cell is a missing value. Enumerations
  (segment, status, ...) are matched case-insensitively and stored in lower case.
* Row numbers: a CSV row's number is the line on which it starts (the header is line 1, the
  first data row line 2; a quoted value spanning lines is counted as the user's editor shows
  it). For Parquet and for DataFrames given directly, row = 1-based row index + 1 (as if the
  table were a CSV file with a header line).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from analytics.classification import normalise_class, stored_class, unknown_class_mask
from data import bulk, summaries
from data.config import settings
from data.regions import RegionSet, get_region_set, normalise_region_series
from data.schema import (
    Branch,
    CollectionCase,
    Customer,
    ImportBatch,
    Inspection,
    Loan,
    Performance,
    batch_id_seq,
)
from data.store import fix_region_set, get_setting, store_region_set

__all__ = [
    "TABLES",
    "IMPORT_FILE",
    "Rejection",
    "RawTable",
    "ImportReport",
    "read_table",
    "load_tables",
    "load_files",
]

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = ("loans", "performance", "customers", "collections", "inspections")
"""The tables of a loan tape, in load order."""

IMPORT_FILE = "(import)"
"""The ``file`` of a rejection that concerns the whole import (no table given, region set)."""

SEGMENTS = ("retail", "sme", "corporate")
COLLATERAL_TYPES = (
    "none", "real_estate", "vehicle", "equipment", "inventory", "receivables", "deposit", "guarantee",
)
STATUSES = ("active", "closed", "written_off")
STAGES = ("early", "mid", "late", "legal")
INSPECTION_KINDS = ("first", "routine", "special")
INSPECTION_RESULTS = ("ok", "issue")

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d")
_MONEY_LIMIT = 1e16  # NUMERIC(18, 2): at most 16 digits before the decimal point
_INT_LIMIT = 2**31 - 1  # INTEGER
_PERF_LOAN_COLS = ("loan_id", "region_code", "branch_id", "product", "segment")
"""The loan's fixed columns copied onto its performance rows (with its cohort, from disbursement_date)."""
_CHUNK = 250_000  # rows per bulk insert (progress is reported per chunk)
_MAX_VALUE_CHARS = 200  # a rejected value is cut to this length in the report
_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype, Arrow-backed


# ---------------------------------------------------------------------------------------------
# Report types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """One problem: ``row`` is the line number in ``file`` (None for a file-level problem)."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else ("es" if noun.endswith(("ch", "sh", "s", "x")) else "s"))


@dataclass
class ImportReport:
    """What an import did, or why it did nothing.

    ``ok`` is True when nothing was rejected. The counts are those written (zero when the
    import was rejected): ``loans_new`` loans inserted, ``loans_unchanged`` stored loans sent
    again identical, ``performance_rows`` performance rows written, of which
    ``performance_replaced`` replaced stored rows of the same loan and month.
    ``months`` are the month ends of the performance rows written; ``batch_id`` the
    ``import_batches`` key stamped on every written row. ``files`` maps table to file name.
    """

    rejections: list[Rejection] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loans_new: int = 0
    loans_unchanged: int = 0
    performance_rows: int = 0
    performance_replaced: int = 0
    customers_rows: int = 0
    collections_rows: int = 0
    inspections_rows: int = 0
    months: list[dt.date] = field(default_factory=list)
    batch_id: int | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected (the import was, or may be, committed)."""
        return not self.rejections

    def counts(self) -> dict[str, int]:
        """The row counts of the import, by the names of the import_batches columns."""
        return {
            "loans_new": self.loans_new,
            "loans_unchanged": self.loans_unchanged,
            "performance_rows": self.performance_rows,
            "performance_replaced": self.performance_replaced,
            "customers_rows": self.customers_rows,
            "collections_rows": self.collections_rows,
            "inspections_rows": self.inspections_rows,
        }

    def to_frame(self) -> pd.DataFrame:
        """The rejections as a DataFrame with columns file, row, column, value, reason."""
        frame = pd.DataFrame(
            {
                "file": [r.file for r in self.rejections],
                "row": pd.array([r.row for r in self.rejections], dtype="Int64"),
                "column": [r.column for r in self.rejections],
                "value": [r.value for r in self.rejections],
                "reason": [r.reason for r in self.rejections],
            },
            columns=["file", "row", "column", "value", "reason"],
        )
        return frame

    def write_csv(self, path: str | Path) -> None:
        """Write the rejections as CSV (UTF-8 with BOM, so Excel shows Chinese correctly)."""
        self.to_frame().to_csv(path, index=False, encoding="utf-8-sig")

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines: list[str] = []
        if self.ok:
            parts = []
            if "loans" in self.files or self.loans_new or self.loans_unchanged:
                parts.append(f"{_n(self.loans_new, 'new loan')} ({self.loans_unchanged:,} unchanged)")
            if self.performance_rows:
                months = ", ".join(m.strftime("%Y-%m") for m in self.months)
                parts.append(
                    f"{_n(self.performance_rows, 'performance row')} ({self.performance_replaced:,} replaced)"
                    + (f" for {months}" if months else "")
                )
            if self.customers_rows:
                parts.append(_n(self.customers_rows, "customer"))
            if self.collections_rows:
                parts.append(_n(self.collections_rows, "collection case"))
            if self.inspections_rows:
                parts.append(_n(self.inspections_rows, "inspection"))
            batch = f" (batch {self.batch_id})" if self.batch_id is not None else ""
            lines.append("Loaded" + batch + ": " + ("; ".join(parts) or "nothing to load") + ".")
        else:
            by_file: dict[str, int] = {}
            for r in self.rejections:
                by_file[r.file] = by_file.get(r.file, 0) + 1
            detail = ", ".join(f"{f}: {n:,}" for f, n in by_file.items())
            lines.append(f"Nothing was loaded: {len(self.rejections):,} problem(s) ({detail}).")
            for r in self.rejections[:10]:
                where = r.file + (f" row {r.row}" if r.row is not None else "")
                where += f", {r.column}" if r.column else ""
                lines.append(f"  {where}: {r.reason}")
            if len(self.rejections) > 10:
                lines.append(f"  ... and {len(self.rejections) - 10:,} more (see the full report)")
        for note in self.notes:
            lines.append("Note: " + note)
        for file, cols in self.ignored_columns.items():
            lines.append(f"Ignored columns in {file}: {', '.join(cols)}")
        return "\n".join(lines)


@dataclass
class RawTable:
    """One table as read from a file, before validation.

    ``frame`` holds the known columns only (lower-case names) with a RangeIndex; CSV values are
    stripped text with missing for blank cells, Parquet values keep their types. ``rows[i]`` is
    the row number of ``frame.iloc[i]`` as the user sees it (see :func:`read_table`).
    ``rejections`` are the problems found while reading; ``readable`` is False when the file
    could not be read at all (then ``frame`` is empty).
    """

    table: str
    file: str
    frame: pd.DataFrame
    rows: np.ndarray
    ignored_columns: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    readable: bool = True


# ---------------------------------------------------------------------------------------------
# Column specifications
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    name: str
    kind: str  # text, enum, class, region, date, money, int, rate
    required: bool = False
    choices: tuple[str, ...] = ()
    default: str | None = None
    min: float | None = None  # value >= min
    above: float | None = None  # value > above
    below: float | None = None  # value < below
    percent_rule: bool = False  # a column whose values are all > 1 is rejected as percents


SPECS: dict[str, tuple[_Col, ...]] = {
    "loans": (
        _Col("loan_id", "text", True),
        _Col("customer_id", "text", True),
        _Col("region_code", "region", True),
        _Col("branch_id", "text"),
        _Col("product", "text", True),
        _Col("segment", "enum", choices=SEGMENTS, default="retail"),
        _Col("disbursement_date", "date", True),
        _Col("maturity_date", "date", True),
        _Col("principal", "money", True, above=0),
        _Col("interest_rate", "rate", True, min=0, below=1, percent_rule=True),
        _Col("origination_score", "int"),
        _Col("collateral_type", "enum", choices=COLLATERAL_TYPES),
        _Col("collateral_value", "money", min=0),
        _Col("purpose", "text"),
        _Col("industry", "text"),
    ),
    "performance": (
        _Col("loan_id", "text", True),
        _Col("as_of", "date", True),
        _Col("outstanding_principal", "money", True, min=0),
        _Col("dpd", "int", True, min=0),
        _Col("credit_score", "int"),
        _Col("collateral_value", "money", min=0),
        _Col("status", "enum", choices=STATUSES, default="active"),
        _Col("classification", "class"),
        _Col("principal_paid", "money"),
        _Col("interest_paid", "money"),
        _Col("recovered_amount", "money"),
    ),
    "customers": (
        _Col("customer_id", "text", True),
        _Col("name", "text"),
        _Col("id_number", "text"),
        _Col("phone", "text"),
        _Col("segment", "enum", choices=SEGMENTS),
        _Col("industry", "text"),
        _Col("annual_income", "money", min=0),
        _Col("debt_ratio", "rate", min=0, percent_rule=True),
    ),
    "collections": (
        _Col("case_id", "text", True),
        _Col("loan_id", "text", True),
        _Col("opened_on", "date", True),
        _Col("closed_on", "date"),
        _Col("stage", "enum", choices=STAGES),
        _Col("agency", "text"),
        _Col("amount_due", "money", min=0),
        _Col("amount_recovered", "money", min=0),
        _Col("complaints", "int", min=0),
    ),
    "inspections": (
        _Col("inspection_id", "text", True),
        _Col("loan_id", "text", True),
        _Col("kind", "enum", True, choices=INSPECTION_KINDS),
        _Col("due_on", "date", True),
        _Col("done_on", "date"),
        _Col("result", "enum", choices=INSPECTION_RESULTS),
    ),
}

_MODELS = {
    "loans": Loan,
    "performance": Performance,
    "customers": Customer,
    "collections": CollectionCase,
    "inspections": Inspection,
}

_KEYS = {
    "loans": "loan_id",
    "customers": "customer_id",
    "collections": "case_id",
    "inspections": "inspection_id",
}

def _max_len(table: str, column: str) -> int | None:
    col = _MODELS[table].__table__.c.get(column)
    return getattr(col.type, "length", None) if col is not None else None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _norm_name(name: object) -> str:
    return str(name).replace("\ufeff", "").strip().lower()


def _unreadable(table: str, file: str, reason: str, column: str | None = None) -> RawTable:
    return RawTable(
        table=table,
        file=file,
        frame=pd.DataFrame(),
        rows=np.empty(0, dtype=np.int64),
        rejections=[Rejection(file, None, column, None, reason)],
        readable=False,
    )


def _pick_columns(table: str, file: str, names: list[str]) -> tuple[dict[int, str], list[str], list[Rejection]]:
    """Map header positions to known column names; report unknown and repeated ones."""
    known = {c.name for c in SPECS[table]}
    picked: dict[int, str] = {}
    seen: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[Rejection] = []
    for pos, raw in enumerate(names):
        name = _norm_name(raw)
        if name in known:
            if name in seen:
                problems.append(
                    Rejection(
                        file, None, name, None,
                        f"column {name} appears more than once in the header "
                        f"(columns {seen[name] + 1} and {pos + 1})",
                    )
                )
                continue
            seen[name] = pos
            picked[pos] = name
        else:
            shown = str(raw).replace("\ufeff", "").strip()
            ignored.append(shown if shown else f"(column {pos + 1}, no name)")
    return picked, ignored, problems


def _detect_encoding(data: bytes) -> str | None:
    for enc in ("utf-8", "gb18030"):
        try:
            data.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    return None


def _scan_records(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Split CSV bytes into records without decoding (UTF-8 and GB18030 never use the bytes of
    ``"``, ``,`` or newline inside a multi-byte character).

    Returns per record: start offset, stop offset (exclusive, before the newline), number of
    fields, the line the record starts on (1-based); and whether the file ends inside a quote.
    A quote toggles the quoted state (a doubled quote toggles twice), as RFC 4180 reads.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    n = b.size
    nl = np.flatnonzero(b == 10)
    quote = b == 34
    unterminated = False
    if quote.any():
        parity = np.cumsum(quote, dtype=np.uint8)  # wraps at 256: only the low bit matters
        parity &= 1
        outside = parity == 0
        ends = nl[outside[nl]]
        commas = np.flatnonzero((b == 44) & outside)
        unterminated = bool(parity[-1])
        del parity, outside
    else:
        ends = nl
        commas = np.flatnonzero(b == 44)
    del quote
    starts = np.concatenate(([0], ends + 1)).astype(np.int64)
    stops = np.concatenate((ends, [n])).astype(np.int64)
    if starts.size and starts[-1] >= n:  # the file ends with a newline
        starts, stops = starts[:-1], stops[:-1]
    fields = np.searchsorted(commas, stops) - np.searchsorted(commas, starts) + 1
    lines = np.searchsorted(nl, starts) + 1
    return starts, stops, fields, lines, unterminated


def _is_blank_record(b: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    length = stops - starts
    blank = length == 0
    one = np.flatnonzero(length == 1)
    if one.size:
        blank[one] = np.isin(b[starts[one]], (9, 13, 32))
    two = np.flatnonzero(length == 2)
    if two.size:
        blank[two] = np.isin(b[starts[two]], (9, 32)) & (b[starts[two] + 1] == 13)
    return blank


def _read_csv(path: Path, table: str, file: str) -> RawTable:
    data = path.read_bytes()
    if len(data) < 65536 and not data.strip():  # a big file is not blank: spare the copy
        return _unreadable(table, file, f"{file} is empty (no header, no rows)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        encoding: str | None = "utf-8"
    else:
        encoding = _detect_encoding(data)
    if encoding is None:
        return _unreadable(table, file, f"{file} is neither UTF-8 nor GBK/GB18030 text")
    if b"\n" not in data and b"\r" in data:  # old Mac line ends
        data = data.replace(b"\r", b"\n")

    starts, stops, fields, lines, unterminated = _scan_records(data)
    b = np.frombuffer(data, dtype=np.uint8)
    blank = _is_blank_record(b, starts, stops)
    nonblank = np.flatnonzero(~blank)
    if nonblank.size == 0:
        return _unreadable(table, file, f"{file} is empty (no header, no rows)")
    head = int(nonblank[0])

    def text_of(i: int) -> str:
        return data[starts[i]:stops[i]].decode(encoding, errors="replace").rstrip("\r")

    if unterminated and head == len(starts) - 1:
        return _unreadable(table, file, f"{file}: the header has an unterminated quote")
    header = next(csv.reader([text_of(head)]), [])
    ncols = len(header)
    picked, ignored, problems = _pick_columns(table, file, header)

    data_idx = nonblank[nonblank > head]
    if data_idx.size == 0:
        raw = _unreadable(table, file, f"{file} has a header but no data rows")
        raw.ignored_columns = ignored
        return raw
    rejections = list(problems)
    bad = fields[data_idx] != ncols
    last = len(starts) - 1
    if unterminated and data_idx[-1] == last:
        bad[-1] = True
    for i in data_idx[bad]:
        snippet = text_of(int(i))
        if unterminated and i == last:
            reason = (
                f"the row starting on line {lines[i]} has an unterminated quote: the file ends "
                "inside a quoted value (is the file cut off, or does a value hold a stray \" character?)"
            )
        else:
            reason = (
                f"the row has {fields[i]} values, the header has {ncols} "
                "(is the line cut off, or does a value contain an unquoted comma?)"
            )
        # A customer line holds personal data: it is not copied into the report.
        shown = None if table == "customers" else snippet[:_MAX_VALUE_CHARS]
        rejections.append(Rejection(file, int(lines[i]), None, shown, reason))
    good = data_idx[~bad]
    if good.size == 0 or not picked:
        frame = pd.DataFrame({name: pd.Series([], dtype="str") for name in picked.values()})
        return RawTable(table, file, frame, np.empty(0, dtype=np.int64), ignored, rejections)

    # Bytes of the good records only (a copy only when something must be cut out).
    contiguous = good.size == 1 or bool(np.all(np.diff(good) == 1))
    if contiguous:
        body = data[starts[good[0]]:stops[good[-1]]]
    else:
        breaks = np.flatnonzero(np.diff(good) != 1)
        run_first = np.concatenate(([good[0]], good[breaks + 1]))
        run_last = np.concatenate((good[breaks], [good[-1]]))
        body = b"\n".join(data[starts[f]:stops[l]] for f, l in zip(run_first, run_last))
    positions = sorted(picked)
    names = [f"c{i}" for i in range(ncols)]
    arrow = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=names, encoding="utf8" if encoding == "utf-8" else encoding),
        parse_options=pacsv.ParseOptions(
            delimiter=",", quote_char='"', double_quote=True, newlines_in_values=b'"' in body,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={names[p]: pa.string() for p in positions},
            include_columns=[names[p] for p in positions],
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    del body
    if arrow.num_rows != good.size:
        return _unreadable(
            table, file,
            f"{file} could not be read as CSV: {arrow.num_rows:,} rows parsed where {good.size:,} were "
            "expected (check the quoting)",
        )
    columns = {}
    for p in positions:
        values = pc.utf8_trim_whitespace(arrow[names[p]])
        if pc.any(pc.equal(values, "")).as_py():
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        columns[picked[p]] = pd.Series(pd.arrays.ArrowStringArray(values, dtype=_STR))
    del arrow
    frame = pd.DataFrame(columns)
    return RawTable(table, file, frame.reset_index(drop=True), lines[good].astype(np.int64), ignored, rejections)


def _read_parquet(path: Path, table: str, file: str) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # truncated or not Parquet at all
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _unreadable(table, file, f"{file} could not be read as Parquet ({msg})")
    return _raw_from_frame(frame, table, file)


def _raw_from_frame(frame: pd.DataFrame, table: str, file: str) -> RawTable:
    picked, ignored, problems = _pick_columns(table, file, list(frame.columns))
    if frame.empty and len(frame) == 0:
        raw = _unreadable(table, file, f"{file} has a header but no data rows")
        raw.ignored_columns = ignored
        return raw
    positions = sorted(picked)
    out = frame.iloc[:, positions].copy()
    out.columns = [picked[p] for p in positions]
    out = out.reset_index(drop=True)
    rows = np.arange(2, len(out) + 2, dtype=np.int64)
    return RawTable(table, file, out, rows, ignored, list(problems))


def read_table(path: str | Path, table: str) -> RawTable:
    """Read one tape file for ``table`` (loans, performance, customers, collections, inspections).

    CSV (any extension but ``.parquet`` / ``.pq``): UTF-8, UTF-8 with BOM or GBK/GB18030
    (detected), comma-separated, header row, ``"`` quoting. Every value is read as text and
    stripped; blank cells are missing. Column names are matched case-insensitively after
    stripping; unknown columns are dropped and listed in ``ignored_columns``.

    Row numbers: a CSV row's number is the line the user sees it start on: the header is line
    1 and the first data row is line 2 (blank lines are skipped but still counted). For Parquet,
    row = 1-based row index + 1, so the first row is 2 likewise.

    Problems never raise: a missing, empty (0 bytes or header only) or unreadable file is a
    file-level rejection (``row`` None); a line with the wrong number of values or an
    unterminated quote is a rejection of that row (the other rows are still read).
    """
    p = Path(path)
    file = p.name
    if table not in SPECS:
        return _unreadable(table, file, f"unknown table {table!r} (tables: {', '.join(TABLES)})")
    if not p.is_file():
        return _unreadable(table, file, f"{file}: no such file ({p})")
    if p.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(p, table, file)
    try:
        return _read_csv(p, table, file)
    except Exception as exc:  # Arrow's parser found something the scan did not
        log.exception("reading %s", p)
        return _unreadable(table, file, f"{file} could not be read as CSV ({exc})")


# ---------------------------------------------------------------------------------------------
# Value parsing (vectorised; typed input from Parquet or DataFrames is accepted too)
# ---------------------------------------------------------------------------------------------


def _text(s: pd.Series) -> pd.Series:
    """Values as stripped text (dtype str), blank -> missing. Integral floats lose their .0."""
    if pd.api.types.is_float_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        finite = vals[np.isfinite(vals)]
        if finite.size == 0 or np.all(finite == np.floor(finite)):
            s = s.astype("Int64")
    elif pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.strftime("%Y-%m-%d")
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object:
        t = s
    else:
        t = s.astype("str")
    t = t.str.strip()
    return t.where(t != "")


def _by_unique(text: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``fn`` applied to each distinct value once, spread back to every row (a missing value
    maps to what ``fn`` gives for a missing value). Text results come back as ``str`` dtype,
    others as numpy arrays in a Series."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    u = pd.Series(np.append(np.asarray(uniques, dtype=object), None), dtype=_STR)
    mapped = fn(u)
    codes = np.where(codes < 0, len(u) - 1, codes)
    if pd.api.types.is_bool_dtype(mapped.dtype):
        return pd.Series(mapped.to_numpy(dtype=bool)[codes], index=text.index)
    arr = pa.array(mapped.astype(_STR).array).take(pa.array(codes))
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=_STR), index=text.index)


def _isin(values: pd.Series, among: pd.Series | pd.Index) -> np.ndarray:
    """``values.isin(among)`` for text, with Arrow (pandas' own is slow on Arrow strings)."""
    a = pa.array(pd.Series(values).astype(_STR).array)
    b = pa.array(pd.Series(among).astype(_STR).array)
    hit = pc.is_in(a, value_set=pc.unique(b), skip_nulls=True)
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


def _objects(s: pd.Series) -> np.ndarray:
    """A numpy object array with None for missing values (for messages)."""
    return s.astype(object).where(s.notna(), None).to_numpy(dtype=object)


def _parse_numbers(s: pd.Series, text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Float values, and a mask of values given but not numbers."""
    given = text.notna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype):
        vals = np.full(len(s), np.nan)
        return pd.Series(vals, index=s.index), given
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            vals = pc.cast(pa.array(text, type=pa.string(), from_pandas=True), pa.float64()).to_numpy(
                zero_copy_only=False
            )
            vals = np.where(given, vals, np.nan)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            vals = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = given & ~np.isfinite(vals)
    return pd.Series(np.where(bad, np.nan, vals), index=s.index), bad


def _parse_dates(s: pd.Series, text: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates (datetime64, midnight), and a mask of values given but not dates."""
    given = text.notna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        out = pd.to_datetime(s)
        if out.dt.tz is not None:
            out = out.dt.tz_localize(None)
        out = out.dt.normalize().astype("datetime64[us]")
        return out, np.zeros(len(s), dtype=bool)
    if s.dtype == object and s.map(lambda v: isinstance(v, (dt.date, dt.datetime)), na_action="ignore").any():
        s = _text(s.map(lambda v: v.strftime("%Y-%m-%d") if isinstance(v, (dt.date, dt.datetime)) else v))
        text = s
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    u = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    parsed = pd.Series(pd.NaT, index=u.index, dtype="datetime64[us]")
    todo = np.ones(len(u), dtype=bool)
    for fmt in _DATE_FORMATS:
        if not todo.any():
            break
        got = pd.to_datetime(u[todo], format=fmt, errors="coerce")
        parsed[todo] = got.astype("datetime64[us]")
        todo = parsed.isna().to_numpy()
    table = np.concatenate((parsed.to_numpy(dtype="datetime64[us]"), np.array(["NaT"], dtype="datetime64[us]")))
    out = pd.Series(table[codes], index=s.index)
    bad = given & out.isna().to_numpy()
    return out, bad


def _fmt_num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.10g}"


def _fmt_date(v: object) -> str:
    if v is None or pd.isna(v):
        return ""
    return pd.Timestamp(v).strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


class _Rejects:
    """Collects rejections with a sort key (table order, row, column order)."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple, Rejection]] = []

    @staticmethod
    def _key(table: str | None, row: int | None, column: str | None) -> tuple:
        t = TABLES.index(table) if table in TABLES else -1
        cols = [c.name for c in SPECS.get(table, ())]
        c = cols.index(column) if column in cols else (-1 if column is None else len(cols))
        return (t, -1 if row is None else row, c)

    def add(self, table: str | None, rej: Rejection) -> None:
        self.items.append((self._key(table, rej.row, rej.column), rej))

    def extend(self, table: str | None, rejs: Iterable[Rejection]) -> None:
        for r in rejs:
            self.add(table, r)

    def sorted(self) -> list[Rejection]:
        return [r for _, r in sorted(self.items, key=lambda kr: kr[0])]

    def __len__(self) -> int:
        return len(self.items)


class _Parsed:
    """A table under validation: text values (for messages), typed clean values, bad rows."""

    def __init__(self, raw: RawTable, rejects: _Rejects) -> None:
        self.table = raw.table
        self.file = raw.file
        self.rows = raw.rows
        self.n = len(raw.frame)
        self.raw = raw.frame
        self.rejects = rejects
        self.text: dict[str, pd.Series] = {}
        self.clean = pd.DataFrame(index=pd.RangeIndex(self.n))
        self.bad = np.zeros(self.n, dtype=bool)
        self.bad_cells: dict[str, np.ndarray] = {}  # column -> rows already rejected for it
        self.missing_columns: set[str] = set()

    def file_problem(self, column: str | None, reason: str, value: str | None = None) -> None:
        self.rejects.add(self.table, Rejection(self.file, None, column, value, reason))

    def values(self, column: str | None, idx: np.ndarray) -> list[str | None]:
        if column is None or column not in self.text:
            return [None] * len(idx)
        vals = _objects(self.text[column].iloc[idx])
        return [None if v is None else str(v)[:_MAX_VALUE_CHARS] for v in vals]

    def reject(
        self,
        mask: np.ndarray,
        column: str | None,
        reason: str | Callable[[list[str | None], np.ndarray], list[str]],
    ) -> None:
        """Reject every row where ``mask`` is True. ``reason`` is text or a function of the rows'
        values (text) and positions giving one reason each."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        vals = self.values(column, idx)
        reasons = reason(vals, idx) if callable(reason) else [reason] * idx.size
        rows = self.rows[idx]
        key = _Rejects._key
        items = self.rejects.items
        for r, v, m in zip(rows.tolist(), vals, reasons):
            items.append((key(self.table, r, column), Rejection(self.file, r, column, v, m)))
        self.bad[idx] = True
        if column is not None:
            self.bad_cells.setdefault(column, np.zeros(self.n, dtype=bool))[idx] = True


def _q(v: str | None) -> str:
    return "''" if v is None else f"'{v}'"


def _check_column(t: _Parsed, spec: _Col, region_set: RegionSet) -> None:
    name = spec.name
    if name not in t.raw.columns:
        if spec.required:
            found = ", ".join(t.raw.columns) or "none of the known columns"
            t.file_problem(name, f"required column {name} is missing (found: {found})")
            t.missing_columns.add(name)
        t.text[name] = pd.Series(np.nan, index=t.clean.index, dtype="str")
        if spec.kind == "date":
            t.clean[name] = pd.Series(pd.NaT, index=t.clean.index, dtype="datetime64[us]")
        elif spec.kind in ("money", "rate"):
            t.clean[name] = np.nan
        elif spec.kind == "int":
            t.clean[name] = pd.array([pd.NA] * t.n, dtype="Int64")
        else:
            t.clean[name] = pd.Series([spec.default] * t.n, index=t.clean.index, dtype=_STR)
        return

    s = t.raw[name]
    text = _text(s)
    t.text[name] = text
    given = text.notna().to_numpy()
    if spec.required:
        t.reject(~given, name, f"{name} is missing")

    kind = spec.kind
    if kind == "text":
        limit = _max_len(t.table, name)
        if limit:
            long = given & (text.str.len().fillna(0).to_numpy() > limit)
            t.reject(long, name, f"{name} is longer than {limit} characters")
        t.clean[name] = text.astype(_STR)
    elif kind == "enum":
        allowed = spec.choices
        default = spec.default

        def canonical(u: pd.Series) -> pd.Series:  # per distinct value: lower case, default
            low = u.str.lower()
            low = low.where(low.isin(allowed))
            return low.where(u.notna(), default) if default is not None else low

        out = _by_unique(text, canonical)
        bad = given & out.isna().to_numpy()
        choices = ", ".join(spec.choices)
        t.reject(bad, name, lambda vals, idx: [f"{name} {_q(v)} is not one of {choices}" for v in vals])
        t.clean[name] = out
    elif kind == "class":
        bad = _by_unique(text, unknown_class_mask).to_numpy(dtype=bool)
        t.reject(
            bad, name,
            lambda vals, idx: [
                f"classification {_q(v)} is not a five-level class (normal, special_mention, "
                "substandard, doubtful, loss, or 正常, 关注, 次级, 可疑, 损失)"
                for v in vals
            ],
        )
        t.clean[name] = _by_unique(text, normalise_class)
    elif kind == "region":
        codes = normalise_region_series(text, region_set)
        bad = given & codes.isna().to_numpy()
        t.reject(
            bad, name,
            lambda vals, idx: [f"region_code {_q(v)} is not a region of the region set {region_set.name}" for v in vals],
        )
        t.clean[name] = codes.astype(_STR)
    elif kind == "date":
        vals, bad = _parse_dates(s, text)
        t.reject(
            bad, name,
            lambda v_, idx: [f"{name} {_q(v)} is not a valid date (use YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)" for v in v_],
        )
        t.clean[name] = vals
    elif kind in ("money", "rate", "int"):
        vals, bad = _parse_numbers(s, text)

        def not_a_number(v_: list, idx: np.ndarray) -> list[str]:
            out = []
            for v in v_:
                if kind == "rate" and v is not None and v.rstrip().endswith("%"):
                    out.append(f"{name} {_q(v)} is a percent: rates must be fractions such as 0.0435, not percents")
                else:
                    out.append(f"{name} {_q(v)} is not a number")
            return out

        t.reject(bad, name, not_a_number)
        arr = vals.to_numpy()
        if kind == "money":
            arr = np.round(arr, 2)  # the store keeps cents: check what will be stored
        ok = given & ~bad
        if kind == "int":
            frac = ok & (arr != np.floor(np.where(ok, arr, 0)))
            t.reject(frac, name, lambda v_, idx: [f"{name} {v} is not a whole number" for v in v_])
            huge = ok & ~frac & (np.abs(np.where(ok, arr, 0)) > _INT_LIMIT)
            t.reject(huge, name, lambda v_, idx: [f"{name} {v} is too large" for v in v_])
            ok &= ~(frac | huge)
        if kind == "money":
            huge = ok & (np.abs(np.where(ok, arr, 0)) >= _MONEY_LIMIT)
            t.reject(huge, name, lambda v_, idx: [f"{name} {v} is too large for the store (at most 16 digits before the decimal point)" for v in v_])
            ok &= ~huge
        percent = False
        if spec.percent_rule and ok.any() and bool(np.all(arr[ok] > 1)):
            percent = True
            example = _objects(text[ok].iloc[:1])[0]
            t.file_problem(
                name,
                f"every {name} value is above 1 (e.g. {example}): rates must be fractions such as "
                "0.0435 for 4.35%, not percents",
            )
            t.bad[ok] = True
            t.bad_cells.setdefault(name, np.zeros(t.n, dtype=bool))[ok] = True
        if not percent:
            safe = np.where(ok, arr, 0.0)
            if spec.above is not None:
                m = ok & ~(safe > spec.above)
                t.reject(m, name, lambda v_, idx: [f"{name} {v} must be greater than {_fmt_num(spec.above)}" for v in v_])
                ok &= ~m
            if spec.min is not None:
                m = ok & (safe < spec.min)
                word = "must not be negative" if spec.min == 0 else f"must be at least {_fmt_num(spec.min)}"
                t.reject(m, name, lambda v_, idx: [f"{name} {v} {word}" for v in v_])
                ok &= ~m
            if spec.below is not None:
                m = ok & (safe >= spec.below)
                if spec.min is not None:
                    msg = f"must be at least {_fmt_num(spec.min)} and below {_fmt_num(spec.below)}"
                else:
                    msg = f"must be below {_fmt_num(spec.below)}"
                t.reject(m, name, lambda v_, idx: [f"{name} {v} {msg}" for v in v_])
        if kind == "int":
            usable = given & ~bad & ~np.isnan(arr)
            safe = np.clip(np.where(usable, arr, 0.0), -_INT_LIMIT - 1, _INT_LIMIT)
            out = pd.array(safe.astype(np.int64), dtype="Int64")
            out[~usable] = pd.NA
            t.clean[name] = out
        elif kind == "money":
            t.clean[name] = np.round(arr, 2)
        else:
            t.clean[name] = arr


def _duplicates(t: _Parsed, keys: list[str], column: str, describe: Callable[[tuple], str]) -> None:
    """Reject every row of a key that occurs more than once in the file (naming all its rows)."""
    if any(k in t.missing_columns for k in keys) or t.n == 0:
        return
    frame = t.clean[keys]
    present = frame.notna().all(axis=1).to_numpy()
    dup = present & frame.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    idx = np.flatnonzero(dup)
    sub = frame.iloc[idx]
    gid = sub.groupby(keys, sort=False).ngroup().to_numpy()
    rows_of: dict[int, list[int]] = {}
    first_of: dict[int, int] = {}
    for g, pos, row in zip(gid.tolist(), idx.tolist(), t.rows[idx].tolist()):
        rows_of.setdefault(g, []).append(row)
        first_of.setdefault(g, pos)
    text: dict[int, str] = {}
    for g, pos in first_of.items():
        rows = rows_of[g]
        shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
        text[g] = f"{describe(tuple(frame.iloc[pos]))} appears {len(rows)} times in this file (rows {shown})"
    reasons = [text[g] for g in gid.tolist()]
    t.reject(dup, column, lambda vals, positions: reasons)


# ---------------------------------------------------------------------------------------------
# Store lookups (no whole-table reads): keys go to the store as a registered frame (DuckDB) or
# a temporary table filled with the bulk writer (PostgreSQL), and the store is joined to them.
# ---------------------------------------------------------------------------------------------


def _for_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed text and nullable integers as Python objects: PostgreSQL's COPY path walks
    the frame row by row in Python, where iterating Arrow strings is several times slower."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, (pd.StringDtype, pd.ArrowDtype)) or pd.api.types.is_extension_array_dtype(s.dtype):
            if not isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.astype(object).where(s.notna(), None)
        out[col] = s
    return pd.DataFrame(out, index=frame.index)


@contextmanager
def _keys_relation(conn: sa.Connection, frame: pd.DataFrame, types: dict[str, sa.types.TypeEngine]):
    name = f"_daihou_keys_{uuid.uuid4().hex[:12]}"
    frame = frame.reset_index(drop=True)
    if conn.dialect.name == "duckdb":
        raw = conn.connection.driver_connection
        raw.register(name, frame)
        try:
            yield name
        finally:
            try:
                raw.unregister(name)
            except Exception:  # the connection's transaction is aborted: the view goes with it
                pass
        return
    tbl = sa.Table(
        name, sa.MetaData(), *(sa.Column(c, types[c]) for c in frame.columns), prefixes=["TEMPORARY"]
    )
    tbl.create(conn)
    bulk.insert_frame(conn, tbl, _for_copy(frame))
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f'ANALYZE "{name}"'))
    yield name
    tbl.drop(conn)


def _fetch(conn: sa.Connection, sql: str) -> pd.DataFrame:
    """Run a query; the whole result as a DataFrame (fully consumed)."""
    if conn.dialect.name == "duckdb":
        table = conn.connection.driver_connection.sql(sql).to_arrow_table()
        columns = {}
        for name, col in zip(table.column_names, table.columns):
            typ = col.type
            if pa.types.is_decimal(typ):
                col = pc.cast(col, pa.float64())
            elif pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
                col = pc.cast(col, pa.large_string()) if not pa.types.is_large_string(typ) else col
                columns[name] = pd.Series(pd.arrays.ArrowStringArray(col, dtype=_STR))
                continue
            columns[name] = col.to_pandas()
        return pd.DataFrame(columns, columns=table.column_names)
    result = conn.execute(sa.text(sql))
    cols = list(result.keys())
    return pd.DataFrame.from_records([tuple(r) for r in result.all()], columns=cols)


def _distinct_text(values: pd.Series) -> pd.DataFrame:
    v = values.dropna().astype(_STR).drop_duplicates()
    return pd.DataFrame({"k": v.array})


def _stored_subset(conn: sa.Connection, table: str, key: str, values: pd.Series, columns: list[str]) -> pd.DataFrame:
    """Stored rows of ``table`` whose ``key`` is among ``values`` (only ``columns``)."""
    keys = _distinct_text(values)
    if keys.empty:
        return pd.DataFrame(columns=columns)
    cols = ", ".join(f's."{c}"' for c in columns)
    with _keys_relation(conn, keys, {"k": sa.String(256)}) as rel:
        return _fetch(conn, f'SELECT {cols} FROM "{table}" s JOIN "{rel}" k ON k.k = s."{key}"')


# ---------------------------------------------------------------------------------------------
# The import
# ---------------------------------------------------------------------------------------------


def _resolve_region_set(name: str) -> RegionSet:
    try:
        return get_region_set(name)
    except ValueError:
        cfg = settings()
        if cfg.geojson_path:
            from data.regions import region_set_from_geojson

            return region_set_from_geojson(
                cfg.geojson_path, cfg.geojson_code_property or "code", cfg.geojson_name_property, name=name
            )
        raise


def _equal(kind: str, a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise equality of file values ``a`` and stored values ``b`` (missing == missing)."""
    if kind == "date":
        x = pd.to_datetime(a).to_numpy(dtype="datetime64[us]")
        y = pd.to_datetime(b).to_numpy(dtype="datetime64[us]")
        both_na = np.isnat(x) & np.isnat(y)
        return both_na | (x == y)
    if kind in ("money", "rate", "int"):
        x = pd.to_numeric(a, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        y = pd.to_numeric(b, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        tol = {"money": 0.005, "rate": 1e-6, "int": 0.5}[kind]
        with np.errstate(invalid="ignore"):
            return (np.isnan(x) & np.isnan(y)) | (np.abs(x - y) < tol)
    x = a.astype(object).where(a.notna(), None).to_numpy(dtype=object)
    y = b.astype(object).where(b.notna(), None).to_numpy(dtype=object)
    return np.array([u == v for u, v in zip(x, y)], dtype=bool)


def _fmt_value(kind: str, v: object) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "(blank)"
    if kind == "date":
        return _fmt_date(v)
    if kind == "money":
        return f"{float(v):.2f}"
    if kind == "rate":
        return f"{float(v):.6g}"
    if kind == "int":
        return str(int(v))
    return str(v)


class _Import:
    """One import: validation state, then the writes."""

    def __init__(self, conn, raws, region_set, currency, username, progress, started):  # noqa: ANN001
        self.conn = conn
        self.raws: dict[str, RawTable] = raws
        self.region_set: RegionSet = region_set
        self.currency = currency
        self.username = username
        self.progress = progress
        self.started = started
        self.rejects = _Rejects()
        self.t: dict[str, _Parsed] = {}
        self.loans_new_mask: np.ndarray | None = None
        self.stored_loan_attrs = pd.DataFrame()
        self.refresh_summaries = True

    # -- validation ---------------------------------------------------------------------------

    def validate(self) -> None:
        steps = [name for name in TABLES if name in self.raws]
        for i, name in enumerate(steps):
            raw = self.raws[name]
            self.progress(0.05 + 0.25 * i / len(steps), f"checking {raw.file}")
            self.rejects.extend(name, raw.rejections)
            if not raw.readable:
                continue
            t = _Parsed(raw, self.rejects)
            self.t[name] = t
            for spec in SPECS[name]:
                _check_column(t, spec, self.region_set)
            getattr(self, f"_rules_{name}")(t)
        self.progress(0.3, "checking references against the store")
        self._references()

    def _rules_loans(self, t: _Parsed) -> None:
        c = t.clean
        both = c["disbursement_date"].notna() & c["maturity_date"].notna()
        early = (both & (c["maturity_date"] < c["disbursement_date"])).to_numpy()
        disb = c["disbursement_date"]
        t.reject(
            early, "maturity_date",
            lambda vals, idx: [
                f"maturity_date {_fmt_date(c['maturity_date'].iloc[i])} is before disbursement_date "
                f"{_fmt_date(disb.iloc[i])}"
                for i in idx
            ],
        )
        _duplicates(t, ["loan_id"], "loan_id", lambda k: f"loan_id {k[0]}")

    def _rules_performance(self, t: _Parsed) -> None:
        as_of = t.clean["as_of"]
        codes, uniques = pd.factorize(as_of, use_na_sentinel=True)
        month_ends = (pd.DatetimeIndex(uniques) + pd.offsets.MonthEnd(0)).to_numpy(dtype="datetime64[us]")
        table = np.concatenate((month_ends, np.array(["NaT"], dtype="datetime64[us]")))
        t.clean["as_of"] = pd.Series(table[codes], index=t.clean.index)
        _duplicates(
            t, ["loan_id", "as_of"], "as_of",
            lambda k: f"loan {k[0]} with a row for {pd.Timestamp(k[1]).strftime('%Y-%m')}",
        )

    def _rules_customers(self, t: _Parsed) -> None:
        _duplicates(t, ["customer_id"], "customer_id", lambda k: f"customer_id {k[0]}")

    def _rules_collections(self, t: _Parsed) -> None:
        c = t.clean
        both = c["opened_on"].notna() & c["closed_on"].notna()
        early = (both & (c["closed_on"] < c["opened_on"])).to_numpy()
        t.reject(
            early, "closed_on",
            lambda vals, idx: [
                f"closed_on {_fmt_date(c['closed_on'].iloc[i])} is before opened_on {_fmt_date(c['opened_on'].iloc[i])}"
                for i in idx
            ],
        )
        _duplicates(t, ["case_id"], "case_id", lambda k: f"case_id {k[0]}")

    def _rules_inspections(self, t: _Parsed) -> None:
        _duplicates(t, ["inspection_id"], "inspection_id", lambda k: f"inspection_id {k[0]}")

    def _references(self) -> None:
        conn = self.conn
        loans_given = "loans" in self.raws
        loans = self.t.get("loans")
        loans_ok = loans is not None and "loan_id" not in loans.missing_columns
        if loans_given and not loans_ok:
            import_ids = None  # the loans file is unusable: references to it cannot be checked
        else:
            import_ids = loans.clean["loan_id"].dropna() if loans_ok else pd.Series([], dtype=_STR)

        if loans_ok:
            self._compare_stored_loans(loans)

        for name in ("performance", "collections", "inspections"):
            t = self.t.get(name)
            if t is None or "loan_id" in t.missing_columns or import_ids is None:
                continue
            ids = t.clean["loan_id"]
            outside = ids.notna().to_numpy() & ~_isin(ids, import_ids)
            cols = [*_PERF_LOAN_COLS, "disbursement_date"] if name == "performance" else ["loan_id"]
            stored = _stored_subset(conn, "loans", "loan_id", ids[outside], cols)
            if name == "performance":
                self.stored_loan_attrs = stored
            unknown = outside & ~_isin(ids, stored["loan_id"])
            t.reject(
                unknown, "loan_id",
                lambda vals, idx: [f"loan_id {v} is neither in the loans of this import nor in the store" for v in vals],
            )

    def _compare_stored_loans(self, t: _Parsed) -> None:
        specs = SPECS["loans"]
        cols = [s.name for s in specs]
        ids = t.clean["loan_id"]
        stored = _stored_subset(self.conn, "loans", "loan_id", ids, cols)
        new = np.ones(t.n, dtype=bool)
        if stored.empty:
            self.loans_new_mask = new
            return
        stored = stored.drop_duplicates("loan_id").set_index("loan_id")
        pos = np.flatnonzero(_isin(ids, stored.index))
        new[pos] = False
        self.loans_new_mask = new
        file_vals = t.clean.iloc[pos].reset_index(drop=True)
        store_vals = stored.reindex(file_vals["loan_id"]).reset_index(drop=True)
        # The file's own bad cells are already reported: compare only what was understood, and
        # only the columns the file has (a column left out says nothing about the loan).
        for spec in specs[1:]:
            name = spec.name
            if name not in t.raw.columns:
                continue
            raw_given = t.text[name].iloc[pos].notna().to_numpy()
            understood = ~(raw_given & file_vals[name].isna().to_numpy())
            if name in t.bad_cells:  # already rejected for this cell: one reason is enough
                understood &= ~t.bad_cells[name][pos]
            kind = "int" if spec.kind == "int" else ("text" if spec.kind in ("enum", "region", "class") else spec.kind)
            same = _equal(kind, file_vals[name], store_vals[name])
            differ = ~same & understood
            if not differ.any():
                continue
            mask = np.zeros(t.n, dtype=bool)
            mask[pos[differ]] = True
            lookup = dict(zip(pos[differ].tolist(), np.flatnonzero(differ).tolist()))

            def reasons(vals, idx, name=name, kind=kind):  # noqa: ANN001
                out = []
                for i in idx:
                    j = lookup[int(i)]
                    out.append(
                        f"loan_id {file_vals['loan_id'].iloc[j]} is already stored with {name} "
                        f"{_fmt_value(kind, store_vals[name].iloc[j])}; this file has "
                        f"{_fmt_value(kind, file_vals[name].iloc[j])} (a stored loan's fixed columns "
                        "cannot change)"
                    )
                return out

            t.reject(mask, name, reasons)

    # -- writing ------------------------------------------------------------------------------

    def write(self, report: ImportReport) -> None:
        conn = self.conn
        rs = self.region_set
        self.progress(0.4, "writing")
        fix_region_set(
            conn, rs.name, self.currency,
            [{"region_code": r.code, "name_zh": r.name_zh, "short_zh": r.short_zh, "name_en": r.name_en} for r in rs.regions],
        )
        batch_id = int(conn.execute(sa.select(batch_id_seq.next_value())).scalar_one())
        report.batch_id = batch_id
        conn.execute(
            sa.insert(ImportBatch).values(
                batch_id=batch_id,
                started_at=self.started,
                username=self.username,
                source=json.dumps({k: v.file for k, v in self.raws.items()}, ensure_ascii=False),
                region_set=rs.name,
            )
        )
        total = sum(t.n for t in self.t.values()) or 1
        done = 0

        def step(table: str, rows: int) -> Callable[[float, str], None]:
            nonlocal done
            lo = 0.4 + 0.55 * done / total
            hi = 0.4 + 0.55 * (done + rows) / total
            done += rows
            return lambda f, msg: self.progress(lo + (hi - lo) * f, msg)

        if "loans" in self.t:
            self._write_loans(report, batch_id, step("loans", self.t["loans"].n))
        if "customers" in self.t:
            self._write_customers(report, batch_id, step("customers", self.t["customers"].n))
        if "performance" in self.t:
            self._write_performance(report, batch_id, step("performance", self.t["performance"].n))
            # Month re-loads update or delete stored rows outside bulk.insert_frame: record them too.
            summaries.performance_changed(conn, report.months)
        for name in ("collections", "inspections"):
            if name in self.t:
                self._write_keyed(report, name, batch_id, step(name, self.t[name].n))
        if "performance" in self.t and self.refresh_summaries:
            self.progress(0.96, "updating the roll-rate summary")
            summaries.sync_roll_summary(conn)  # the months loaded (and any left stale before)

        self.progress(0.97, "recording the import")
        conn.execute(
            sa.update(ImportBatch)
            .where(ImportBatch.batch_id == batch_id)
            .values(
                finished_at=dt.datetime.now(),
                **report.counts(),
                months=json.dumps([m.isoformat() for m in report.months]),
                note="\n".join(report.notes) or None,
            )
        )

    def _insert(self, table: sa.Table, frame: pd.DataFrame, progress: Callable[[float, str], None], label: str) -> int:
        n = len(frame)
        if n == 0:
            progress(1.0, f"{label}: nothing to write")
            return 0
        written = 0
        duck = self.conn.dialect.name == "duckdb"
        for start in range(0, n, _CHUNK):
            chunk = frame.iloc[start:start + _CHUNK]
            written += bulk.insert_frame(self.conn, table, chunk if duck else _for_copy(chunk))
            progress(min(1.0, (start + len(chunk)) / n), f"{label}: {start + len(chunk):,} of {n:,} rows")
        return written

    def _write_loans(self, report: ImportReport, batch_id: int, progress) -> None:  # noqa: ANN001
        t = self.t["loans"]
        new_mask = self.loans_new_mask if self.loans_new_mask is not None else np.ones(t.n, dtype=bool)
        report.loans_unchanged = int((~new_mask).sum())
        cols = [s.name for s in SPECS["loans"]]
        new = t.clean.loc[new_mask, cols].copy()
        new["batch_id"] = batch_id
        report.loans_new = self._insert(Loan.__table__, new, progress, "loans")

        branches = new.loc[new["branch_id"].notna(), ["branch_id", "region_code"]]
        if not branches.empty:
            pairs = branches.drop_duplicates()
            spread = pairs["branch_id"][pairs["branch_id"].duplicated()].unique()
            if len(spread):
                shown = ", ".join(map(str, spread[:5])) + (", ..." if len(spread) > 5 else "")
                report.notes.append(
                    f"{_n(len(spread), 'branch')} with loans in more than one region ({shown}): "
                    "each is recorded under the region of its first loan in the file"
                )
            branches = pairs.drop_duplicates("branch_id")
            stored = _stored_subset(self.conn, "branches", "branch_id", branches["branch_id"], ["branch_id"])
            fresh = branches[~branches["branch_id"].isin(stored["branch_id"])]
            if not fresh.empty:
                bulk.insert_frame(self.conn, Branch.__table__, fresh.assign(name=None))

    def _replace_rows(
        self,
        model: type,
        frame: pd.DataFrame,
        keys: list[str],
        progress: Callable[[float, str], None],
        label: str,
        *,
        fixed: tuple[str, ...] = (),
        narrow_by: str | None = None,
    ) -> np.ndarray:
        """Write ``frame`` into ``model``'s table, replacing stored rows with the same ``keys``.

        Returns the mask of the frame's rows that replaced a stored row. On PostgreSQL (and on
        DuckDB when an indexed column could change) the stored rows are deleted, then every row
        inserted. On DuckDB the stored rows are otherwise updated in place and only the new
        rows inserted: deleting many rows of a table with a primary key makes DuckDB's commit
        very slow (about 80 s for a million rows). ``fixed`` names indexed columns that cannot
        differ from the stored row (a performance row's loan columns), so they need no update.
        ``narrow_by`` names a key column with few distinct values (``as_of``): only the rows whose
        value is already stored are looked up (a new month needs no lookup at all).
        """
        conn = self.conn
        table = model.__table__
        key_types = {k: table.c[k].type for k in keys}

        def key_sql(k: str) -> str:
            return f'CAST(k."{k}" AS DATE)' if isinstance(key_types[k], sa.Date) else f'k."{k}"'

        on = " AND ".join(f'{key_sql(k)} = s."{k}"' for k in keys)
        keyframe = frame[keys].copy()
        keyframe["_i"] = np.arange(len(frame), dtype=np.int64)
        matched = np.zeros(len(frame), dtype=bool)
        if narrow_by is not None:
            values = [pd.Timestamp(v).date() if isinstance(key_types[narrow_by], sa.Date) else v
                      for v in pd.unique(frame[narrow_by].dropna())]
            col = table.c[narrow_by]
            stored = conn.execute(sa.select(col).where(col.in_(values)).distinct()).scalars().all() if values else []
            stored_set = {pd.Timestamp(v) for v in stored} if isinstance(key_types[narrow_by], sa.Date) else set(stored)
            keep = frame[narrow_by].isin(list(stored_set)).to_numpy()
            keyframe = keyframe.loc[keep]
        if keyframe.empty:
            self._insert(table, frame, progress, label)
            return matched
        indexed = {c.name for ix in table.indexes for c in ix.columns}
        update_cols = [c for c in frame.columns if c not in keys]
        in_place = conn.dialect.name == "duckdb" and not (set(update_cols) & indexed - set(fixed))
        with _keys_relation(conn, keyframe, {**key_types, "_i": sa.BigInteger()}) as rel:
            found = _fetch(conn, f'SELECT k."_i" AS i FROM "{rel}" k JOIN "{table.name}" s ON {on}')
            matched[found["i"].to_numpy(dtype=np.int64)] = True
            if matched.any() and not in_place:
                where = " AND ".join(f'{key_sql(k)} = "{table.name}"."{k}"' for k in keys)
                conn.execute(sa.text(f'DELETE FROM "{table.name}" WHERE EXISTS (SELECT 1 FROM "{rel}" k WHERE {where})'))
        if matched.any() and in_place:
            progress(0.0, f"{label}: replacing {int(matched.sum()):,} stored rows")
            sub = frame.loc[matched].reset_index(drop=True)
            sets = ", ".join(f'"{c}" = k."{c}"' for c in update_cols if c not in fixed)
            where = " AND ".join(f'{key_sql(k)} = "{table.name}"."{k}"' for k in keys)
            raw = conn.connection.driver_connection
            view = f"_daihou_upd_{uuid.uuid4().hex[:12]}"
            raw.register(view, sub)
            try:
                raw.execute(f'UPDATE "{table.name}" SET {sets} FROM "{view}" k WHERE {where}')
            finally:
                try:
                    raw.unregister(view)
                except Exception:
                    pass
            self._insert(table, frame.loc[~matched], progress, label)
        else:
            self._insert(table, frame, progress, label)
        return matched

    def _write_customers(self, report: ImportReport, batch_id: int, progress) -> None:  # noqa: ANN001
        from data.crypto import encrypt_series

        t = self.t["customers"]
        c = t.clean
        progress(0.0, "customers: encrypting personal data")
        frame = pd.DataFrame(
            {
                "customer_id": c["customer_id"],
                "name_enc": encrypt_series(c["name"]),
                "id_number_enc": encrypt_series(c["id_number"]),
                "phone_enc": encrypt_series(c["phone"]),
                "segment": c["segment"],
                "industry": c["industry"],
                "annual_income": c["annual_income"],
                "debt_ratio": c["debt_ratio"],
                "batch_id": batch_id,
            }
        )
        replaced = int(self._replace_rows(Customer, frame, ["customer_id"], progress, "customers").sum())
        if replaced:
            report.notes.append(f"customers: updated {_n(replaced, 'stored customer')}")
        report.customers_rows = len(frame)

    def _write_performance(self, report: ImportReport, batch_id: int, progress) -> None:  # noqa: ANN001
        conn = self.conn
        t = self.t["performance"]
        c = t.clean
        cols = [*_PERF_LOAN_COLS, "disbursement_date"]
        attrs = []
        if "loans" in self.t:
            attrs.append(self.t["loans"].clean[cols])
        if not self.stored_loan_attrs.empty:
            attrs.append(self.stored_loan_attrs[cols])
        lookup = pd.concat(attrs, ignore_index=True) if attrs else pd.DataFrame(columns=cols)
        lookup = lookup.drop_duplicates("loan_id").reset_index(drop=True)
        # The cohort: the last day of the disbursement month, per loan of the lookup.
        disbursed = pd.to_datetime(lookup["disbursement_date"]).to_numpy(dtype="datetime64[D]")
        cohorts = ((disbursed.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1).astype("datetime64[us]")
        # The position of each row's loan in the lookup (hashed in Arrow).
        ids = c["loan_id"]
        found = pc.index_in(
            pa.array(ids.astype(_STR).array), value_set=pa.array(lookup["loan_id"].astype(_STR).array)
        )
        if found.null_count:  # validation guarantees every loan resolves
            raise RuntimeError("performance rows without their loan's attributes (internal error)")
        pos = found.to_numpy(zero_copy_only=False).astype(np.int64)
        loan_cols = {
            col: pd.Series(lookup[col].astype(_STR).array.take(pos))
            for col in _PERF_LOAN_COLS[1:]
        }
        reported = c["classification"]
        frame = pd.DataFrame(
            {
                "loan_id": ids.astype(_STR).array,
                "as_of": c["as_of"].to_numpy(),
                "region_code": loan_cols["region_code"].array,
                "branch_id": loan_cols["branch_id"].array,
                "product": loan_cols["product"].array,
                "segment": loan_cols["segment"].array,
                "cohort": cohorts.take(pos),
                "outstanding_principal": c["outstanding_principal"].to_numpy(),
                "dpd": c["dpd"].array,
                "credit_score": c["credit_score"].array,
                "collateral_value": c["collateral_value"].to_numpy(),
                "status": c["status"].to_numpy(),
                "classification_reported": reported.to_numpy(),
                "classification": _stored_classes(c["dpd"].to_numpy(dtype=np.int64), reported),
                "principal_paid": c["principal_paid"].to_numpy(),
                "interest_paid": c["interest_paid"].to_numpy(),
                "recovered_amount": c["recovered_amount"].to_numpy(),
                "batch_id": batch_id,
            }
        )

        progress(0.0, "performance: looking for months already stored")
        matched = self._replace_rows(
            Performance, frame, ["loan_id", "as_of"], progress, "performance",
            fixed=(*_PERF_LOAN_COLS[1:], "cohort"), narrow_by="as_of",
        )
        if matched.any():
            per_month = pd.Series(frame["as_of"].to_numpy()[matched]).value_counts().sort_index()
            for as_of, n in per_month.items():
                report.notes.append(
                    f"performance {pd.Timestamp(as_of).strftime('%Y-%m')}: replaced {_n(int(n), 'stored row')}"
                )
        report.performance_replaced = int(matched.sum())
        report.performance_rows = len(frame)
        months = pd.Series(frame["as_of"].unique()).sort_values()
        report.months = [pd.Timestamp(m).date() for m in months]

    def _write_keyed(self, report: ImportReport, name: str, batch_id: int, progress) -> None:  # noqa: ANN001
        t = self.t[name]
        key = _KEYS[name]
        model = _MODELS[name]
        cols = [s.name for s in SPECS[name]]
        frame = t.clean[cols].copy()
        frame["batch_id"] = batch_id
        replaced = int(self._replace_rows(model, frame, [key], progress, name).sum())
        if replaced:
            what = "stored case" if name == "collections" else "stored inspection"
            report.notes.append(f"{name}: replaced {_n(replaced, what)}")
        setattr(report, f"{name}_rows", len(frame))


def _stored_classes(dpd: np.ndarray, reported: pd.Series) -> np.ndarray:
    """:func:`analytics.classification.stored_class` for each row, computed once per distinct
    (dpd, reported class) pair (a million rows hold only a few thousand)."""
    rep_codes, rep_uniques = pd.factorize(reported, use_na_sentinel=True)
    width = len(rep_uniques) + 1
    pair = dpd.astype(np.int64) * width + (rep_codes + 1)
    uniq, inverse = np.unique(pair, return_inverse=True)
    u_dpd = uniq // width
    u_rep = np.append(np.asarray(rep_uniques, dtype=object), None)[(uniq % width) - 1]
    classes = stored_class(u_dpd, pd.Series(u_rep, dtype=object))
    return np.asarray(classes, dtype=object)[inverse]


def _as_raw(table: str, value: pd.DataFrame | RawTable) -> RawTable:
    if isinstance(value, RawTable):
        return value
    if isinstance(value, pd.DataFrame):
        return _raw_from_frame(value, table, table)
    return _unreadable(table, str(table), f"{table}: expected a DataFrame or a RawTable, got {type(value).__name__}")


def _nothing_written(report: ImportReport) -> None:
    """Reset what a rejected or failed import reports as written (its transaction rolls back)."""
    report.batch_id = None
    report.loans_new = report.loans_unchanged = report.performance_rows = 0
    report.performance_replaced = report.customers_rows = report.collections_rows = 0
    report.inspections_rows = 0
    report.months = []


def _failure(report: ImportReport, exc: BaseException, stage: str) -> None:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    report.rejections.append(
        Rejection(
            IMPORT_FILE, None, None, None,
            f"the import failed while {stage} and nothing was loaded ({type(exc).__name__}: {msg})",
        )
    )


def load_tables(
    conn: sa.Connection,
    tables: dict[str, pd.DataFrame | RawTable],
    *,
    region_set: str,
    currency: str,
    username: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    refresh_summaries: bool = True,
) -> ImportReport:
    """Validate the tables of one import and, when nothing is rejected, write them on ``conn``.

    ``tables`` maps table names (loans, performance, customers, collections, inspections) to a
    :class:`RawTable` from :func:`read_table` or a DataFrame (its file is then called by the
    table's name and row = position + 2). Everything is validated first and every problem is
    reported; only an import without rejections is written. The writes happen inside the
    caller's transaction and are never committed here: the caller commits when ``report.ok``
    and **must roll back otherwise** (a failure while writing is reported as a rejection, and
    what was written before it is then still in the open transaction).

    ``region_set`` is fixed on the first load of a store (with ``currency``); a later load
    naming another set is rejected. ``progress(fraction, message)`` is called at each stage
    and per chunk of the large tables.

    The roll summary (``data.summaries``) is refreshed for the months loaded (and any months
    left stale before), in the same transaction; ``refresh_summaries=False`` only marks those
    months stale (for a caller that loads many chunks and refreshes once at the end, as the
    demo generator does).
    """
    started = dt.datetime.now()
    report = ImportReport()
    prog = (lambda f, m: progress(max(0.0, min(1.0, f)), m)) if progress else (lambda f, m: None)
    prog(0.0, "starting")

    raws: dict[str, RawTable] = {}
    rejects = _Rejects()
    for name, value in tables.items():
        if name not in SPECS:
            rejects.add(None, Rejection(
                IMPORT_FILE, None, None, str(name),
                f"unknown table {name!r} (tables: {', '.join(TABLES)})",
            ))
            continue
        raw = _as_raw(name, value)
        raws[name] = raw
        report.files[name] = raw.file
        if raw.ignored_columns:
            report.ignored_columns[raw.file] = list(raw.ignored_columns)
    if not tables:
        rejects.add(None, Rejection(IMPORT_FILE, None, None, None, f"no table given (give at least one of {', '.join(TABLES)})"))

    try:
        current = store_region_set(conn)
        chosen = region_set
        if current is not None and current != region_set:
            rejects.add(None, Rejection(
                IMPORT_FILE, None, None, region_set,
                f"This store uses the region set '{current}'; a load naming '{region_set}' is rejected. "
                f"Load with --region-set {current}, or start a new store (DAIHOU_DB_URL).",
            ))
            chosen = current  # check the rows against the store's own set
        try:
            rs = _resolve_region_set(chosen)
        except (ValueError, OSError) as exc:
            rejects.add(None, Rejection(IMPORT_FILE, None, None, chosen, str(exc)))
            report.rejections = rejects.sorted()
            return report
        if current is not None:
            currency = get_setting(conn, "currency") or currency

        job = _Import(conn, raws, rs, currency, username, prog, started)
        job.rejects = rejects
        job.refresh_summaries = refresh_summaries
        job.validate()
    except Exception as exc:  # a lookup failed: the store could not be read
        log.exception("import validation failed")
        report.rejections = rejects.sorted()
        _failure(report, exc, "checking the files against the store")
        return report

    report.rejections = rejects.sorted()
    if not report.ok:
        prog(1.0, f"rejected: {len(report.rejections):,} problem(s)")
        return report

    notes_before = len(report.notes)
    try:
        job.write(report)
    except Exception as exc:
        log.exception("import write failed")
        del report.notes[notes_before:]  # they describe writes that are rolled back
        _nothing_written(report)
        _failure(report, exc, "writing")
        return report
    prog(1.0, "done")
    return report


def load_files(
    engine: sa.Engine,
    paths: dict[str, str | Path],
    *,
    region_set: str | None = None,
    username: str | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> ImportReport:
    """Read and load the files of one import, all or nothing.

    ``paths`` maps table names (loans, performance, customers, collections, inspections) to
    files. Every file is read (:func:`read_table`) and the whole import is validated and
    written in ONE transaction, committed only when nothing was rejected; on any rejection or
    error (including an unexpected database error) the transaction is rolled back and the
    store is as it was. ``region_set`` defaults to the store's, else the configuration's.
    """
    prog = (lambda f, m: progress(max(0.0, min(1.0, f)), m)) if progress else (lambda f, m: None)
    if not paths:
        report = ImportReport()
        report.rejections.append(
            Rejection(IMPORT_FILE, None, None, None, f"no table given (give at least one of {', '.join(TABLES)})")
        )
        return report
    raws: dict[str, RawTable | pd.DataFrame] = {}
    items = list(paths.items())
    for i, (name, path) in enumerate(items):
        prog(0.1 * i / len(items), f"reading {Path(path).name}")
        raws[name] = read_table(path, name) if name in SPECS else pd.DataFrame()

    def inner(f: float, m: str) -> None:
        prog(0.1 + 0.9 * f, m)

    report: ImportReport | None = None
    try:
        with engine.connect() as conn:
            with conn.begin() as tx:
                chosen = region_set or store_region_set(conn) or settings().region_set
                report = load_tables(
                    conn, raws, region_set=chosen, currency=settings().currency,
                    username=username, progress=inner,
                )
                if not report.ok:
                    tx.rollback()
    except Exception as exc:  # connecting, committing, or anything load_tables let through
        log.exception("import failed")
        if report is None:
            report = ImportReport(files={k: Path(v).name for k, v in paths.items()})
        else:
            report.notes = [n for n in report.notes if not n.startswith(("performance ", "customers:", "collections:", "inspections:"))]
        _failure(report, exc, "writing to the store")
    if not report.ok:
        _nothing_written(report)  # the transaction was rolled back
    return report
