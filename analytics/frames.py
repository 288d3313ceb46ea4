"""Input checks shared by the analytics functions.

:func:`require_columns` is the one input validator of ``analytics``: every public function
that takes a frame calls it first, so a missing column fails with its name rather than a
``KeyError`` deep inside pandas.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["require_columns"]


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the input and every column of ``columns`` it lacks.

    ``what`` names the input (a function or the frame's role), e.g.
    ``require_columns(agg, ["balance"], "book aggregate")`` on a frame without ``balance``
    raises ``"book aggregate: frame is missing column(s) ['balance']"``. The missing columns
    are listed in the order of ``columns``.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: frame is missing column(s) {missing}")
