"""analytics.frames.require_columns: the one input check of the analytics functions."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.frames import require_columns


def test_present_columns_pass():
    require_columns(pd.DataFrame(columns=["a", "b"]), ["b", "a"], "pair")


def test_message_names_the_input_and_every_missing_column_in_order():
    frame = pd.DataFrame(columns=["b"])
    with pytest.raises(ValueError) as err:
        require_columns(frame, ("c", "b", "a"), "book aggregate")
    assert str(err.value) == "book aggregate: frame is missing column(s) ['c', 'a']"
