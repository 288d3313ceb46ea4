"""Display formats: 万/亿 in Chinese, K/M/B in English, rates as percentages."""

import math

from components.formatting import fmt_count, fmt_money, fmt_rate


def test_money_chinese_units():
    assert fmt_money(123_456_789.0) == "¥1.23亿"
    assert fmt_money(45_670.0) == "¥4.6万"
    assert fmt_money(999.0) == "¥999"
    assert fmt_money(-2e8) == "-¥2.00亿"


def test_money_english_units():
    assert fmt_money(123_456_789.0, lang="en") == "¥123.46M"
    assert fmt_money(2.5e9, "USD", lang="en") == "$2.50B"
    assert fmt_money(1500.0, "XYZ", lang="en") == "XYZ 1.50K"


def test_missing_values_show_a_dash():
    assert fmt_money(None) == "—"
    assert fmt_rate(math.nan) == "—"
    assert fmt_count(None) == "—"


def test_rates_and_counts():
    assert fmt_rate(0.01234) == "1.23%"
    assert fmt_rate(0.5, digits=0) == "50%"
    assert fmt_count(12345.0) == "12,345"
