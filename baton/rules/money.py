"""Money in minor units -> text people read ("$12,000.00")."""

from __future__ import annotations

# ISO 4217 minor-unit exponents that are not 2; everything else has cents.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def format_money(amount: int, currency: str) -> str:
    """``format_money(1200000, "USD") == "$12,000.00"``; unknown symbols print the code."""
    exp = exponent(currency)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**exp)
    number = f"{major:,}" + (f".{minor:0{exp}d}" if exp else "")
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def format_money_map(money: dict[str, int]) -> str:
    """A per-currency amount, e.g. ``$9,000.00 + €50.00``; ``0`` when empty."""
    if not money:
        return "0"
    return " + ".join(format_money(v, c) for c, v in sorted(money.items()))
