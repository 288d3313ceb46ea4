"""First run: an empty store gets the demo portfolio, with a progress bar."""

from __future__ import annotations

import streamlit as st

from components.store import data_changed, engine, first_run_lock
from data.store import is_empty

__all__ = ["ensure_portfolio", "DEMO_LOANS", "DEMO_MONTHS", "DEMO_SEED"]

DEMO_LOANS, DEMO_MONTHS, DEMO_SEED = 20_000, 36, 42


def _store_is_empty() -> bool:
    with engine().connect() as conn:
        return is_empty(conn)


def ensure_portfolio() -> None:
    """Generate the default demo portfolio into an empty store, showing progress."""
    if not _store_is_empty():
        return
    from data.generate import generate_into

    with first_run_lock():
        if not _store_is_empty():  # another session generated it while we waited
            return
        st.title("Daihou 贷后")
        st.write(
            f"Empty store: generating the demo portfolio ({DEMO_LOANS:,} loans × {DEMO_MONTHS} months). "
            "This happens once. / 首次运行：正在生成演示数据。"
        )
        bar = st.progress(0.0, text="Starting…")

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        generate_into(engine(), DEMO_LOANS, DEMO_MONTHS, DEMO_SEED, progress=progress)
        data_changed()
        bar.progress(1.0, text="Done")
    st.rerun()
