"""Money: integer minor units, exponents from ISO 4217, exact parsing and allocation."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from juhe.money import Money, MoneyError, exponent

INT64_MAX = 2**63 - 1  # the ledger stores minor units in BIGINT columns


# --- currencies and exponents -------------------------------------------------------------


@pytest.mark.parametrize(("currency", "digits"), [("CNY", 2), ("USD", 2), ("JPY", 0), ("KWD", 3)])
def test_exponent_is_the_iso_4217_minor_unit(currency, digits):
    assert exponent(currency) == digits


@pytest.mark.parametrize("currency", ["XYZ", "cny", "", "RMB"])
def test_unknown_currency_is_an_error(currency):
    with pytest.raises(MoneyError):
        Money(100, currency)


def test_currency_without_minor_unit_is_not_money():
    with pytest.raises(MoneyError, match="no minor unit"):
        Money(1, "XAU")


@pytest.mark.parametrize(("currency", "text"), [("CNY", "12.34"), ("JPY", "1234"), ("KWD", "1.234")])
def test_decimal_text_uses_the_currency_exponent(currency, text):
    assert Money(1234, currency).decimal_text() == text


# --- only int minor units ----------------------------------------------------------------


@pytest.mark.parametrize("amount", [12.34, 1.0, Decimal("12"), "1234", True, None])
def test_amount_that_is_not_an_int_is_rejected(amount):
    with pytest.raises(MoneyError):
        Money(amount, "CNY")


def test_float_rate_is_rejected():
    with pytest.raises(MoneyError):
        Money(100, "CNY").multiply(0.5)


def test_float_ratio_is_rejected():
    with pytest.raises(MoneyError):
        Money(100, "CNY").allocate([0.5, 0.5])


# --- arithmetic never mixes currencies ----------------------------------------------------


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_mixing_currencies_is_an_error(combine):
    with pytest.raises(MoneyError):
        combine(Money(100, "CNY"), Money(100, "USD"))


def test_combining_money_with_a_bare_number_is_an_error():
    with pytest.raises(MoneyError):
        Money(100, "CNY") + 1


def test_same_currency_arithmetic_is_exact():
    assert Money(150, "CNY") + Money(-50, "CNY") == Money(100, "CNY")
    assert Money(150, "CNY") - Money(200, "CNY") == Money(-50, "CNY")
    assert -Money(5, "JPY") == Money(-5, "JPY")
    assert Money(1, "CNY") < Money(2, "CNY") <= Money(2, "CNY")


# --- parse --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "CNY", 1234),
        ("12.3", "CNY", 1230),
        ("12.340", "CNY", 1234),  # trailing zeros add no precision
        ("-0.01", "CNY", -1),
        (" 7 ", "CNY", 700),
        ("5", "JPY", 5),
        ("1.234", "KWD", 1234),
        ("92233720368547758.07", "CNY", INT64_MAX),
    ],
)
def test_parse_gives_exact_minor_units(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("12.345", "CNY"), ("5.5", "JPY"), ("1.2345", "KWD"), ("0.001", "CNY")],
)
def test_parse_with_more_decimals_than_the_currency_is_an_error_not_a_rounding(text, currency):
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse(text, currency)


@pytest.mark.parametrize("text", ["abc", "", "12.3.4", "NaN", "Infinity", "-inf", "sNaN", "0x10", None])
def test_parse_of_text_that_is_not_an_amount_is_an_error(text):
    with pytest.raises(MoneyError):
        Money.parse(text, "CNY")


@pytest.mark.parametrize(
    "text",
    [
        "1.00000000000000000000000000001",  # 30 significant digits: must not round to 1.00
        "99999999999999999999999999.999",
        "1e-999999999",
    ],
)
def test_parse_of_long_decimal_text_is_an_error_not_a_rounding(text):
    # Money.parse promises "more decimals than the currency has is an error, not a rounding";
    # Decimal.scaleb rounds to the context's 28 digits, so these slip through as round numbers.
    with pytest.raises(MoneyError):
        Money.parse(text, "CNY")


def test_parse_of_an_exponent_overflow_is_a_money_error():
    # Client input must fail as MoneyError (HTTP 422), not decimal.Overflow (HTTP 500).
    with pytest.raises(MoneyError):
        Money.parse("1e999999999", "CNY")


# --- JSON ---------------------------------------------------------------------------------


def test_to_json_names_minor_units_currency_and_decimal_text():
    assert Money(1234, "CNY").to_json() == {"amount_minor": 1234, "currency": "CNY", "amount": "12.34"}
    assert Money(-5, "KWD").to_json() == {"amount_minor": -5, "currency": "KWD", "amount": "-0.005"}


@given(
    amount=st.integers(min_value=-INT64_MAX, max_value=INT64_MAX),
    currency=st.sampled_from(["CNY", "JPY", "KWD", "USD"]),
)
@example(amount=INT64_MAX, currency="KWD")
def test_json_round_trip_by_minor_units_and_by_decimal_text(amount, currency):
    money = Money(amount, currency)
    data = money.to_json()
    assert Money.from_json(data) == money
    assert Money.from_json({"amount": data["amount"], "currency": currency}) == money


@pytest.mark.parametrize(
    "data",
    [
        {"amount_minor": 12.5, "currency": "CNY"},
        {"amount_minor": "1250", "currency": "CNY"},
        {"amount": 12.5, "currency": "CNY"},  # a JSON number is a float: never
        {"amount": "12.345", "currency": "CNY"},
        {"amount_minor": 1},
        {"amount_minor": 1, "currency": "XYZ"},
        {"currency": "CNY"},
        [1234, "CNY"],
    ],
)
def test_from_json_rejects_what_is_not_exact_money(data):
    with pytest.raises(MoneyError):
        Money.from_json(data)


def test_decimal_text_is_exact_beyond_28_digits():
    # Money accepts any int; its decimal text must not round (Decimal's default context has 28 digits).
    huge = 10**30 + 1
    assert Money(huge, "CNY").decimal_text() == "10000000000000000000000000000.01"


# --- multiply -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "minor"),
    [
        (1000, Decimal("0.006"), 6),
        (250, Decimal("0.006"), 2),  # 1.5 → 2 (half to even)
        (350, Decimal("0.006"), 2),  # 2.1
        (2500, Decimal("0.0001"), 0),  # 0.25
        (25, Decimal("0.1"), 2),  # 2.5 → 2 (half to even, not up)
        (35, Decimal("0.1"), 4),  # 3.5 → 4
        (-25, Decimal("0.1"), -2),  # -2.5 → -2
        (100, 3, 300),
    ],
)
def test_multiply_rounds_half_to_even(amount, rate, minor):
    assert Money(amount, "CNY").multiply(rate) == Money(minor, "CNY")


@given(
    amount=st.integers(min_value=-(10**18), max_value=10**18),
    rate=st.decimals(min_value=0, max_value=10, places=12, allow_nan=False, allow_infinity=False),
)
@example(amount=900000324429942077, rate=Decimal("0.123456789013"))
def test_multiply_equals_exact_product_rounded_half_even(amount, rate):
    # Python's round() of a Fraction is exact and rounds half to even: the reference answer.
    # The example's exact product is …908.500000000001, which must round up to …909; a
    # 28-digit intermediate cuts it to …908.5000000000 and half-even then rounds down.
    assert Money(amount, "CNY").multiply(rate).amount_minor == round(Fraction(amount) * Fraction(rate))


# --- allocate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ratios", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (5, [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]),
        (100, [3, 7], [30, 70]),
        (1, [1, 1], [1, 0]),  # ties go to the earliest part
        (101, [1, 0, 1], [51, 0, 50]),
        (10, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], [5, 3, 2]),
        (0, [1, 2], [0, 0]),
    ],
)
def test_allocate_examples(amount, ratios, parts):
    assert [p.amount_minor for p in Money(amount, "CNY").allocate(ratios)] == parts


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1], [-1]])
def test_allocate_needs_non_negative_ratios_not_all_zero(ratios):
    with pytest.raises(MoneyError):
        Money(100, "CNY").allocate(ratios)


ratio = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=300)
@given(
    amount=st.one_of(st.integers(min_value=-(10**18), max_value=10**18), st.sampled_from([10**18, -(10**18), 1, -1])),
    ratios=st.lists(ratio, min_size=1, max_size=12).filter(lambda rs: sum(rs) > 0),
)
def test_allocation_never_loses_or_invents_a_minor_unit(amount, ratios):
    parts = Money(amount, "CNY").allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum(p.amount_minor for p in parts) == amount
    assert all(p.currency == "CNY" for p in parts)
    total = sum(Fraction(r) for r in ratios)
    for part, r in zip(parts, ratios):
        share = abs(amount) * Fraction(r) / total
        # Each part is its exact share rounded down or up by less than one minor unit,
        # all parts carry the amount's sign, and a zero ratio never receives anything.
        assert abs(abs(part.amount_minor) - share) < 1
        assert part.amount_minor * amount >= 0
        if r == 0:
            assert part.amount_minor == 0


@given(
    amount=st.integers(min_value=-(10**18), max_value=10**18),
    ratios=st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=8).filter(lambda rs: sum(rs) > 0),
)
def test_allocation_is_deterministic_and_symmetric_in_sign(amount, ratios):
    parts = Money(amount, "CNY").allocate(ratios)
    assert parts == Money(amount, "CNY").allocate(list(ratios))
    assert [-p for p in parts] == Money(-amount, "CNY").allocate(ratios)
