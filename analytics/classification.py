"""Five-level loan classification (五级分类): the DPD floor and the stored class.

Floor by days past due, 《商业银行金融资产风险分类办法》 (2023):

==========  ==================  =====
dpd          class               中文
==========  ==================  =====
0            normal              正常
1-90         special_mention     关注
91-270       substandard         次级
271-360      doubtful            可疑
> 360        loss                损失
==========  ==================  =====

The stored class is the worse of the reported class and the floor; a reported class
better than the floor is an exception.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CLASSES",
    "CLASS_NAMES_ZH",
    "NPL_CLASSES",
    "CLASS_ALIASES",
    "floor_class",
    "stored_class",
    "normalise_class",
    "unknown_class_mask",
]

CLASSES: tuple[str, ...] = ("normal", "special_mention", "substandard", "doubtful", "loss")
"""Classes from best to worst."""

CLASS_NAMES_ZH: dict[str, str] = {
    "normal": "正常",
    "special_mention": "关注",
    "substandard": "次级",
    "doubtful": "可疑",
    "loss": "损失",
}

NPL_CLASSES: tuple[str, ...] = ("substandard", "doubtful", "loss")
"""Non-performing classes (不良贷款): 次级, 可疑, 损失."""

CLASS_ALIASES: dict[str, str] = {
    **{c: c for c in CLASSES},
    **{zh: c for c, zh in CLASS_NAMES_ZH.items()},
    "special mention": "special_mention",
    "special-mention": "special_mention",
}

_FLOOR_EDGES = np.array([0, 90, 270, 360])  # dpd <= edge -> class index
_RANK = {c: i for i, c in enumerate(CLASSES)}


def floor_class(dpd: pd.Series | np.ndarray) -> np.ndarray:
    """The DPD floor class of each ``dpd`` (whole days, >= 0), as an array of class keys."""
    idx = np.searchsorted(_FLOOR_EDGES, np.asarray(dpd, dtype=np.int64), side="left")
    return np.asarray(CLASSES, dtype=object)[idx]


def normalise_class(values: pd.Series) -> pd.Series:
    """Map reported classes (English keys, any case, or 正常/关注/次级/可疑/损失) to keys.

    Blank and unknown values both come back missing; find the unknown ones (to report
    them) with :func:`unknown_class_mask`.
    """
    return values.astype("string").str.strip().str.lower().map(CLASS_ALIASES)


def unknown_class_mask(values: pd.Series) -> pd.Series:
    """True where a value is given (not blank) but is not a known class name."""
    text = values.astype("string").str.strip()
    given = text.notna() & (text != "")
    return given & normalise_class(values).isna()


def stored_class(dpd: pd.Series | np.ndarray, reported: pd.Series | None = None) -> np.ndarray:
    """The class to store: the worse of the reported class (keys, may be missing) and the floor."""
    floor = floor_class(dpd)
    if reported is None:
        return floor
    floor_rank = np.searchsorted(_FLOOR_EDGES, np.asarray(dpd, dtype=np.int64), side="left")
    rep_rank = pd.Series(reported).map(_RANK).fillna(-1).to_numpy(dtype=np.int64)
    return np.asarray(CLASSES, dtype=object)[np.maximum(floor_rank, rep_rank)]
