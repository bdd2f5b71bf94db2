"""Every signature scheme Juhe sends or trusts: genuine and ±299 s verify; ±301 s, a changed body
and a foreign key are refused. (Duplicated notifications booked once: tests/payments/test_payment_flow.py
and each channel's test_duplicated_notification_*.)"""

from __future__ import annotations

from juhe.safety.security_signatures import trial


def test_every_scheme_accepts_the_genuine_within_299_s_and_refuses_skew_tampering_and_foreign_keys():
    result = trial()
    assert result.wrong_verdicts == []
    assert result.cases == 4 * 7 + 3  # four timed schemes × 7 cases, Alipay's 3
    assert result.figures == {"signature_cases": 31, "wrong_verdicts": 0}
