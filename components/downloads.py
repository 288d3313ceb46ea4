"""Download buttons for any table: CSV (UTF-8 with BOM, so Excel opens Chinese text) and Excel."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

__all__ = ["to_csv_bytes", "to_excel_bytes", "download_buttons", "table_with_downloads"]


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes, UTF-8 with a BOM."""
    return frame.to_csv(index=False).encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """The frame as an .xlsx workbook (one sheet)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        frame.to_excel(xl, index=False, sheet_name=sheet[:31])
    return buf.getvalue()


def download_buttons(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV and Excel download buttons side by side for ``frame``, files named ``name``.

    The files are built only when a button is clicked (deferred callables), so drawing
    the buttons costs nothing on a rerun.
    """
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button(
        "CSV", lambda: to_csv_bytes(frame), f"{name}.csv", "text/csv", key=f"{key}-csv", icon=":material/download:"
    )
    c2.download_button(
        "Excel",
        lambda: to_excel_bytes(frame, name),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}-xlsx",
        icon=":material/download:",
    )


def table_with_downloads(frame: pd.DataFrame, name: str, key: str, **dataframe_kwargs) -> object:
    """``st.dataframe`` of ``frame`` with its download buttons under it; returns the dataframe's event."""
    event = st.dataframe(frame, key=key, **dataframe_kwargs)
    download_buttons(frame, name, key)
    return event
