"""The Data page's pieces: uploaded tape files kept for the session, their preview, and the
validation / load report (rejections filterable and downloadable, with the bad rows).

Uploaded files are written to a folder of the session (under the system's temporary folder)
with their own names, so the importer reads them as files (CSV or Parquet by extension) and
its rejections name the file the user chose. Each file is read once (``read_table``) and
kept in the session until another file replaces it. The pure helpers (:func:`detect_encoding`,
:func:`filter_rejections`, :func:`bad_rows`) take and return plain values and frames.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from components.downloads import table_with_downloads, to_csv_bytes, to_excel_bytes
from components.formatting import fmt_count, fmt_rate
from components.i18n import tr
from data.importer import IMPORT_FILE, TABLES, ImportReport, RawTable, read_table

__all__ = [
    "TABLE_LABELS",
    "TABLE_HELP",
    "UploadedTable",
    "table_label",
    "detect_encoding",
    "safe_name",
    "prepare_uploads",
    "upload_signature",
    "filter_rejections",
    "bad_rows",
    "checks_table",
    "show_preview",
    "show_counts",
    "show_rejections",
    "lazy_downloads",
]

TABLE_LABELS: dict[str, tuple[str, str]] = {
    "loans": ("Loans", "贷款"),
    "performance": ("Performance", "月度表现"),
    "customers": ("Customers", "客户"),
    "collections": ("Collections", "催收"),
    "inspections": ("Inspections", "贷后检查"),
}

TABLE_HELP: dict[str, tuple[str, str]] = {
    "loans": ("One row per loan, fixed at origination. Required in a first load.", "每笔贷款一行，放款时确定。首次导入必需。"),
    "performance": ("One row per loan per month (as_of).", "每笔贷款每月一行（as_of）。"),
    "customers": ("Optional. Name, id number and phone are stored encrypted.", "可选。姓名、证件号、电话加密存储。"),
    "collections": ("Optional. Collection cases (催收).", "可选。催收案件。"),
    "inspections": ("Optional. Post-loan inspections (贷后检查).", "可选。贷后检查记录。"),
}

MAX_UPLOAD_MB = 1024
"""Largest file the uploaders take (Streamlit keeps an upload in memory; a bigger tape loads
faster from the command line: ``python -m cli load``)."""

SHOWN_ROWS = 10_000
"""At most this many rejections are drawn in the table; the downloads hold them all."""

EXCEL_ROWS = 1_048_575
"""Rows an Excel sheet holds below its header."""

_SESSION_DIR = "data_upload_dir"
_SESSION_TABLES = "data_upload_tables"


def table_label(table: str) -> str:
    """The table's name in the current language (the file's table name for unknown ones)."""
    pair = TABLE_LABELS.get(table)
    return tr(*pair) if pair else table


# ---------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------


def detect_encoding(data: bytes, name: str = "") -> str:
    """How the importer will read these bytes: ``Parquet``, ``UTF-8 with BOM``, ``UTF-8``,
    ``GBK/GB18030`` or ``unknown`` (neither; the importer rejects such a file)."""
    if Path(name).suffix.lower() in (".parquet", ".pq"):
        return "Parquet"
    if data.startswith(b"\xef\xbb\xbf"):
        return "UTF-8 with BOM"
    for enc, label in (("utf-8", "UTF-8"), ("gb18030", "GBK/GB18030")):
        try:
            data.decode(enc)
            return label
        except UnicodeDecodeError:
            continue
    return "unknown"


def safe_name(name: str) -> str:
    """A file name safe to write in the upload folder (no folders, no odd characters)."""
    base = Path(name.replace("\\", "/")).name.strip() or "upload.csv"
    return re.sub(r"[^\w.\-\u4e00-\u9fff]+", "_", base)


def filter_rejections(frame: pd.DataFrame, files=(), columns=(), text: str = "") -> pd.DataFrame:
    """The rejections (``ImportReport.to_frame()``) of the chosen ``files`` and ``columns``
    (all when empty) whose reason or value contains ``text`` (case-insensitive)."""
    keep = pd.Series(True, index=frame.index)
    if files:
        keep &= frame["file"].isin(list(files))
    if columns:
        keep &= frame["column"].isin(list(columns))
    text = text.strip()
    if text:
        hay = frame["reason"].fillna("").astype(str) + " " + frame["value"].fillna("").astype(str)
        keep &= hay.str.contains(text, case=False, regex=False)
    return frame.loc[keep].reset_index(drop=True)


def bad_rows(raw: RawTable, rejections: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``raw`` that were rejected, as read from the file, for the lender to fix.

    Columns: ``row`` (the line number in the file), ``problems`` (every reason for the row,
    joined by `` | ``), then the file's known columns. Rows the importer could not split into
    values (a line with the wrong number of values) are not in the table read; they are in the
    rejection report with the line's text as the value.
    """
    mine = rejections[(rejections["file"] == raw.file) & rejections["row"].notna()]
    if mine.empty or raw.frame.empty:
        return pd.DataFrame(columns=["row", "problems", *raw.frame.columns])
    reasons = (
        mine.assign(row=mine["row"].astype("int64"))
        .groupby("row", sort=True)["reason"]
        .agg(lambda r: " | ".join(dict.fromkeys(r)))
    )
    lines = pd.Series(raw.rows, dtype="int64")
    hit = lines.isin(reasons.index).to_numpy()
    out = raw.frame.loc[hit].reset_index(drop=True).astype(object)
    rows = lines[hit].reset_index(drop=True)
    out.insert(0, "problems", reasons.reindex(rows).to_numpy())
    out.insert(0, "row", rows.to_numpy())
    return out


def checks_table(checks: pd.DataFrame, table: str, lang: str = "zh") -> pd.DataFrame:
    """The checks of one table (:func:`data.quality.quality_checks`) laid out for reading:
    indexed by the check's name, with found / out of / share as text and the definition."""
    en = lang == "en"
    mine = checks[checks["table"] == table]
    out = pd.DataFrame(
        {
            "Found" if en else "发现数": [fmt_count(v) if pd.notna(v) else "—" for v in mine["count"]],
            "Out of" if en else "基数": [fmt_count(v) for v in mine["base"]],
            "Share" if en else "占比": [fmt_rate(v) for v in mine["share"]],
            "Definition" if en else "定义": mine["definition_en" if en else "definition_zh"].tolist(),
        },
        index=pd.Index(mine["name_en" if en else "name_zh"].tolist(), name="Check" if en else "检查项"),
    )
    return out


# ---------------------------------------------------------------------------------------------
# Uploads kept for the session
# ---------------------------------------------------------------------------------------------


@dataclass
class UploadedTable:
    """One uploaded file: where it was saved, how it reads, and its table as read."""

    table: str
    file_id: str
    name: str
    path: Path
    size: int
    encoding: str
    raw: RawTable


def _session_dir() -> Path:
    folder = st.session_state.get(_SESSION_DIR)
    if folder is None or not Path(folder).is_dir():
        folder = tempfile.mkdtemp(prefix="daihou-upload-")
        st.session_state[_SESSION_DIR] = folder
    return Path(folder)


def prepare_uploads(files: dict[str, object]) -> dict[str, UploadedTable]:
    """Save and read each uploaded file (``{table: UploadedFile or None}``), once per file.

    A file seen before (same upload id) is not written or read again; a table whose file
    was removed is forgotten (and its saved copy deleted).
    """
    kept: dict[str, UploadedTable] = st.session_state.setdefault(_SESSION_TABLES, {})
    out: dict[str, UploadedTable] = {}
    for table, f in files.items():
        old = kept.get(table)
        if f is None:
            if old is not None:
                shutil.rmtree(old.path.parent, ignore_errors=True)
                del kept[table]
            continue
        file_id = getattr(f, "file_id", None) or f"{f.name}:{f.size}"
        if old is None or old.file_id != file_id:
            folder = _session_dir() / table
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            data = f.getvalue()
            path = folder / safe_name(f.name)
            path.write_bytes(data)
            kept[table] = UploadedTable(
                table, file_id, path.name, path, len(data), detect_encoding(data, path.name), read_table(path, table)
            )
        out[table] = kept[table]
    return out


def upload_signature(tables: dict[str, UploadedTable]) -> tuple[tuple[str, str], ...]:
    """What identifies this set of uploads: a validation holds only for the same signature."""
    return tuple(sorted((t, u.file_id) for t, u in tables.items()))


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def show_preview(tables: dict[str, UploadedTable], rows: int = 10) -> None:
    """One tab per uploaded file: its size, encoding, ignored columns, read problems, first rows."""
    names = [t for t in TABLES if t in tables]
    for tab, table in zip(st.tabs([f"{table_label(t)} · {tables[t].name}" for t in names]), names, strict=True):
        u = tables[table]
        with tab:
            facts = [
                tr("{n} rows read", "读取 {n} 行").format(n=fmt_count(len(u.raw.frame))),
                tr("encoding: {e}", "编码：{e}").format(e=u.encoding),
                f"{u.size / 1e6:,.1f} MB" if u.size >= 1e5 else f"{u.size / 1e3:,.1f} KB",
            ]
            st.caption(" · ".join(facts))
            if u.raw.ignored_columns:
                st.info(
                    tr("Ignored columns (not part of the loan tape): ", "忽略的列（不属于贷款数据规范）：")
                    + ", ".join(u.raw.ignored_columns),
                    icon=":material/visibility_off:",
                )
            if u.raw.rejections:
                st.warning(
                    tr("{n} problem(s) found while reading the file; see the validation report.",
                       "读取文件时发现 {n} 个问题，详见校验报告。").format(n=len(u.raw.rejections)),
                    icon=":material/warning:",
                )
            if not u.raw.frame.empty:
                head = u.raw.frame.head(rows)
                head.insert(0, "row", u.raw.rows[: len(head)])
                table_with_downloads(
                    head, f"preview_{table}", key=f"preview_{table}", hide_index=True,
                    column_config={"row": st.column_config.NumberColumn(
                        tr("Line", "行号"), help=tr("Line number in the file (the header is line 1)", "文件中的行号（表头为第1行）"),
                        format="%d",
                    )},
                )


def show_counts(report: ImportReport, *, would: bool) -> None:
    """The counts of a clean import, as metrics (``would``: a validation, nothing written yet)."""
    items = [
        (tr("New loans", "新增贷款"), report.loans_new,
         tr("Loans not yet stored, inserted by the load.", "库中尚无、将新增的贷款。")),
        (tr("Unchanged loans", "未变化贷款"), report.loans_unchanged,
         tr("Loans already stored with identical columns: skipped.", "库中已有且各列相同的贷款：跳过。")),
        (tr("Performance rows", "月度表现行"), report.performance_rows,
         tr("Loan-month rows written.", "写入的贷款-月份行数。")),
        (tr("Replacing stored rows", "替换已有行"), report.performance_replaced,
         tr("Performance rows of a loan and month already stored, replaced by the file's row.",
            "库中已有同一贷款同一月份的表现行，将被文件中的行替换。")),
        (tr("Customers", "客户"), report.customers_rows, tr("Customer rows written (stored ones updated).", "写入的客户行（已有客户将被更新）。")),
        (tr("Collections", "催收"), report.collections_rows, tr("Collection cases written.", "写入的催收案件。")),
        (tr("Inspections", "贷后检查"), report.inspections_rows, tr("Inspections written.", "写入的贷后检查。")),
    ]
    sent = set(report.files)
    tables = ("loans", "loans", "performance", "performance", "customers", "collections", "inspections")
    shown = [(label, v, h) for (label, v, h), table in zip(items, tables, strict=True) if v or table in sent]
    for col, (label, value, help_text) in zip(st.columns(max(1, len(shown))), shown):
        col.metric(label, fmt_count(value), help=help_text, border=True)
    if report.months:
        months = [m.strftime("%Y-%m") for m in report.months]
        span = months[0] if len(months) == 1 else f"{months[0]} – {months[-1]}"
        st.caption(
            (tr("Months that would be loaded: ", "将导入的月份：") if would else tr("Months loaded: ", "已导入月份："))
            + f"{span} ({len(months)})"
        )
    for note in report.notes:
        st.caption(":material/info: " + note)


def show_rejections(report: ImportReport, tables: dict[str, UploadedTable], key: str) -> None:
    """The full rejection report: counts per file, filters, the table with downloads, and the
    bad rows of each file for download."""
    frame = report.to_frame()
    per_file = frame.groupby("file", sort=False).size()
    st.error(
        tr("Nothing can be loaded: {n} problem(s) — ", "不能导入：共 {n} 个问题 — ").format(n=fmt_count(len(frame)))
        + ", ".join(f"{f}: {fmt_count(n)}" for f, n in per_file.items()),
        icon=":material/block:",
    )
    _rejection_table(frame, key)
    by_file = {u.raw.file: u.raw for u in tables.values()}
    fixable = [f for f in per_file.index if f in by_file and f != IMPORT_FILE]
    if fixable:
        st.markdown(tr("**Bad rows as they are in the file** (with every problem of the row):",
                       "**文件中的问题行**（含该行全部问题）："))
        for f in fixable:
            n = frame.loc[frame["file"] == f, "row"].nunique()
            if not n:
                continue
            st.caption(f"{f}: " + tr("{n} row(s)", "{n} 行").format(n=fmt_count(n)))
            lazy_downloads(
                lambda raw=by_file[f]: bad_rows(raw, frame), f"bad_rows_{Path(f).stem}", key=f"{key}-bad-{Path(f).stem}"
            )


def lazy_downloads(frame: pd.DataFrame | Callable[[], pd.DataFrame], name: str, key: str) -> None:
    """CSV and Excel buttons whose files are built only when clicked (a rejection report can
    hold millions of rows; building both files on every rerun would stall the page). ``frame``
    may be a function giving the frame, then called on the click too. Excel holds the first
    :data:`EXCEL_ROWS` rows (a sheet's limit)."""
    get = frame if callable(frame) else (lambda: frame)
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", lambda: to_csv_bytes(get()), f"{name}.csv", "text/csv", key=f"{key}-csv",
                       icon=":material/download:")
    c2.download_button(
        "Excel", lambda: to_excel_bytes(get().head(EXCEL_ROWS), name), f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}-xlsx",
        icon=":material/download:",
    )


@st.fragment
def _rejection_table(frame: pd.DataFrame, key: str) -> None:
    """Filters and the rejection table (a fragment: filtering reruns only this part)."""
    c1, c2, c3 = st.columns([1, 1, 2])
    files = c1.multiselect(tr("File", "文件"), sorted(frame["file"].unique()), key=f"{key}-files", placeholder=tr("All", "全部"))
    columns = c2.multiselect(
        tr("Column", "列"), sorted(frame["column"].dropna().unique()), key=f"{key}-columns", placeholder=tr("All", "全部")
    )
    text = c3.text_input(tr("Reason or value contains", "原因或取值包含"), key=f"{key}-text")
    shown = filter_rejections(frame, files, columns, text)
    if len(shown) != len(frame):
        st.caption(tr("{n} of {m} problems match; the downloads hold the matching rows.", "{n} / {m} 个问题符合条件；下载内容为符合条件的行。").format(
            n=fmt_count(len(shown)), m=fmt_count(len(frame))))
    if len(shown) > SHOWN_ROWS:
        st.caption(tr("The table shows the first {n}; download for every row.", "表中显示前 {n} 行；下载可获得全部。").format(
            n=fmt_count(SHOWN_ROWS)))
    st.dataframe(
        shown.head(SHOWN_ROWS), key=f"{key}-table", hide_index=True,
        column_config={
            "file": st.column_config.TextColumn(tr("File", "文件")),
            "row": st.column_config.NumberColumn(
                tr("Line", "行号"), format="%d",
                help=tr("Line number in the file (the header is line 1); blank for a problem of the whole file.",
                        "文件中的行号（表头为第1行）；整个文件的问题则为空。"),
            ),
            "column": st.column_config.TextColumn(tr("Column", "列")),
            "value": st.column_config.TextColumn(tr("Value", "取值")),
            "reason": st.column_config.TextColumn(tr("Reason", "原因"), width="large"),
        },
    )
    lazy_downloads(shown, "rejections", key=f"{key}-table")
