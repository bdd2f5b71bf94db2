"""The invoice's rules as worked examples: unified social credit codes (GB 32100-2015), the amount
in capital numerals (大写), and the VAT inside a tax-included price."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from juhe.einvoice import credit_code, tax
from juhe.einvoice.words import capital_cny

# Published codes of well-known companies: their check characters come from the standard, not from us.
REAL_CODES = ["91330100716105852F", "9144030071526726XG", "914403001922038216", "91350100M000100Y43"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_published_credit_codes_are_valid(code):
    assert credit_code.problem(code) is None


@pytest.mark.parametrize("code, why", [
    ("91330100716105852G", "check character"),  # one character off
    ("9133010071610585F", "18 characters"),
    ("91330100716105852I", "not a character"),  # I is not in the alphabet
    ("913301O0716105852F", "not a character"),
    ("91AB0100716105852F", "administrative division"),
])
def test_a_wrong_credit_code_says_why(code, why):
    assert why in credit_code.problem(code)


@given(st.sampled_from(REAL_CODES), st.integers(0, 16), st.sampled_from(credit_code.ALPHABET))
def test_any_single_changed_character_is_caught(code, position, replacement):
    changed = code[:position] + replacement + code[position + 1:]
    if changed != code and changed[2:8].isdigit():
        assert not credit_code.is_valid(changed)


@pytest.mark.parametrize("minor, words", [
    (128800, "壹仟贰佰捌拾捌元整"),
    (1288, "壹拾贰元捌角捌分"),
    (1005, "壹拾元零伍分"),
    (1250, "壹拾贰元伍角整"),
    (5, "伍分"),
    (0, "零元整"),
    (100000000, "壹佰万元整"),
    (10000000000, "壹亿元整"),
    (10001000000, "壹亿零壹万元整"),
    (20001000, "贰拾万零壹拾元整"),
    (1000100, "壹万零壹元整"),
    (-30000, "负叁佰元整"),
])
def test_amounts_in_capital_numerals(minor, words):
    assert capital_cny(minor) == words


@pytest.mark.parametrize("total, rate_bps, amount, tax_minor", [
    (11300, 1300, 10000, 1300),  # ¥113.00 at 13 %: ¥100.00 + ¥13.00
    (128800, 1300, 113982, 14818),
    (1288, 600, 1215, 73),
    (1000, 0, 1000, 0),
    (1, 1300, 1, 0),
])
def test_the_tax_inside_a_tax_included_price(total, rate_bps, amount, tax_minor):
    assert tax.split(total, rate_bps) == (amount, tax_minor)


@given(st.integers(1, 10**12), st.sampled_from(tax.RATES_BPS))
def test_amount_and_tax_always_add_up_to_what_was_paid(total, rate_bps):
    amount, tax_minor = tax.split(total, rate_bps)
    assert amount + tax_minor == total and 0 <= tax_minor <= amount


def test_a_tax_line_needs_a_19_digit_category_and_a_known_rate():
    assert tax.line_problem("1030201990000000000", 1300) is None
    assert "19 digits" in tax.line_problem("10302019900", 1300)
    assert "not one of" in tax.line_problem("1030201990000000000", 1700)
