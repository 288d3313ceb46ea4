"""Display formats: money in the store's currency (万/亿 in Chinese), rates as percentages."""

from __future__ import annotations

import math

__all__ = ["fmt_money", "fmt_rate", "fmt_count", "CURRENCY_SYMBOL"]

CURRENCY_SYMBOL = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "GBP": "£"}


def _missing(v: float | None) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_money(v: float | None, currency: str = "CNY", lang: str = "zh") -> str:
    """¥1.23亿 / ¥4,567万 in Chinese; ¥123.4M / ¥5.6B in English."""
    if _missing(v):
        return "—"
    sym = CURRENCY_SYMBOL.get(currency, currency + " ")
    a = abs(v)
    sign = "-" if v < 0 else ""
    if lang == "zh":
        if a >= 1e8:
            return f"{sign}{sym}{a / 1e8:,.2f}亿"
        if a >= 1e4:
            return f"{sign}{sym}{a / 1e4:,.1f}万"
        return f"{sign}{sym}{a:,.0f}"
    for div, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= div:
            return f"{sign}{sym}{a / div:,.2f}{suf}"
    return f"{sign}{sym}{a:,.0f}"


def fmt_rate(v: float | None, digits: int = 2) -> str:
    """0.0123 -> '1.23%'; missing -> '—'."""
    return "—" if _missing(v) else f"{v:.{digits}%}"


def fmt_count(v: float | None) -> str:
    """12345 -> '12,345'."""
    return "—" if _missing(v) else f"{int(v):,}"
