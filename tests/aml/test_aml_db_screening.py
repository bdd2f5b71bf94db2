"""Screening in the product: a payment's creditor against the configured and uploaded lists,
stored with its hits; a held screening waits for a reviewer whose decision tells the payment
what to do; uploads reach every process through the version counter."""

from __future__ import annotations

import pytest

from juhe.aml.errors import AmlError
from juhe.aml.models import AmlListVersion, AmlScreening, AmlScreeningHit, AmlWatchList
from juhe.aml.payment_screening import review_screening, screen_merchant, screen_parties_for_payment
from juhe.aml.watch_lists import WatchListCache, configure_watch_lists, upload_list
from juhe.db.models import Merchant

SANCTIONED = {"creditor_name": "Golden Harbour Shipping Co Ltd", "creditor_account": "GB29NWBK60161331926819",
              "creditor_bic": "NWBKGB2L", "rail": "swift", "sell_currency": "CNY"}
CLEAN = {"creditor_name": "Suzhou Bright Components Co., Ltd.", "creditor_account": "6222020200112233",
         "creditor_bank": "ICBKCNBJ"}
OWN_LIST = "name,aliases,type,country,dob,list\nSuzhou Bright Components,,entity,CN,,Supplier blacklist\n"


def _outbound(world, merchant=None, scenario="b2b"):
    return world.payment(merchant or world.a, 500_000_00, world.t0, scenario=scenario, status="requires_payment_method",
                         channel="bank")


def _screen(world, payer, merchant=None, payment_id=None):
    merchant = merchant or world.a
    payment_id = payment_id or _outbound(world, merchant)
    with world.db.session() as session, session.begin():
        return screen_parties_for_payment(session, merchant, payment_id, payer)


def test_sanctioned_creditor_holds_the_payment_with_its_hits_stored(aml_world_any):
    world = aml_world_any
    decision = _screen(world, SANCTIONED)
    assert decision.hold
    assert ("OFAC SDN", "1002") in {(hit["list"], hit["entry_id"]) for hit in decision.hits}
    assert all(hit["party_role"] == "payee" and hit["score"] >= 88 for hit in decision.hits)
    with world.db.reader() as session:
        stored = session.get(AmlScreening, decision.screening_id)
        assert stored.status == "held" and stored.hit_count == len(decision.hits) and stored.entries_screened > 0
        assert stored.parties == [{"role": "payee", "name": SANCTIONED["creditor_name"], "country": "GB",
                                   "account": SANCTIONED["creditor_account"]}]
        assert stored.request == SANCTIONED  # the payer fields the payment resumes with after a release
    assert world.count(AmlScreeningHit, screening_id=decision.screening_id) == len(decision.hits)


def test_clean_creditor_passes_and_is_recorded_as_clear(aml_world_any):
    decision = _screen(aml_world_any, CLEAN)
    assert not decision.hold and decision.hits == []
    with aml_world_any.db.reader() as session:
        assert session.get(AmlScreening, decision.screening_id).status == "clear"


def test_screening_a_payment_twice_returns_the_stored_decision(aml_world):
    payment_id = _outbound(aml_world)
    first = _screen(aml_world, SANCTIONED, payment_id=payment_id)
    again = _screen(aml_world, CLEAN, payment_id=payment_id)  # a retry: the stored decision stands
    assert (again.screening_id, again.hold) == (first.screening_id, True)
    assert aml_world.count(AmlScreening) == 1


def test_ecny_payee_and_named_debtor_are_both_screened(aml_world):
    decision = _screen(aml_world, {"rail": "ecny", "payee_wallet_id": "0021000000000001", "payee_name": "Clean Trading",
                                   "debtor_name": "Ivan Petrov"})
    assert decision.hold and {hit["party_role"] for hit in decision.hits} == {"payer"}


def _review(world, screening_id, decision, merchant=None, reason="checked the registry: same company"):
    with world.db.session() as session, session.begin():
        return review_screening(session, screening_id, decision, "api_key:reviewer", reason, merchant_id=merchant)


def test_release_lets_the_payment_go_on_with_its_payer_fields(aml_world):
    held = _screen(aml_world, SANCTIONED)
    review = _review(aml_world, held.screening_id, "release", aml_world.a, "a different Golden Harbour, verified")
    assert (review.status, review.payment_action, review.failure_code) == ("released", "submit", None)
    assert review.payer == SANCTIONED
    with aml_world.db.reader() as session:
        stored = session.get(AmlScreening, held.screening_id)
        assert (stored.reviewed_by, stored.review_reason) == ("api_key:reviewer", "a different Golden Harbour, verified")


def test_reject_fails_the_payment(aml_world):
    held = _screen(aml_world, SANCTIONED)
    review = _review(aml_world, held.screening_id, "reject")
    assert (review.status, review.payment_action, review.failure_code) == ("rejected", "fail", "aml_rejected")


@pytest.mark.parametrize("decision, reason, code", [
    ("approve", "fine", "unknown_decision"),
    ("release", "  ", "invalid_review"),
    ("release", "x" * 4_001, "invalid_review"),
])
def test_bad_reviews_are_refused_and_change_nothing(aml_world, decision, reason, code):
    held = _screen(aml_world, SANCTIONED)
    with pytest.raises(AmlError) as refused:
        _review(aml_world, held.screening_id, decision, reason=reason)
    assert refused.value.code == code
    assert aml_world.count(AmlScreening, status="held") == 1


def test_only_a_held_screening_is_reviewed_and_only_by_its_merchant(aml_world):
    clear = _screen(aml_world, CLEAN)
    with pytest.raises(AmlError) as refused:
        _review(aml_world, clear.screening_id, "release")
    assert refused.value.code == "screening_not_held"
    held = _screen(aml_world, SANCTIONED)
    with pytest.raises(AmlError) as refused:
        _review(aml_world, held.screening_id, "release", merchant=aml_world.b)
    assert refused.value.code == "screening_not_found"
    _review(aml_world, held.screening_id, "reject")
    with pytest.raises(AmlError) as refused:
        _review(aml_world, held.screening_id, "release")  # a decision is not taken back
    assert refused.value.code == "screening_not_held"


@pytest.mark.parametrize("payer, code", [
    ({"rail": "swift", "creditor_account": "123"}, "no_party_to_screen"),
    ({"creditor_name": 42}, "invalid_party"),
    ({"creditor_name": "?!"}, "invalid_name"),
    ("Golden Harbour", "invalid_party"),
])
def test_a_payer_without_a_screenable_name_is_refused_and_nothing_stored(aml_world, payer, code):
    with pytest.raises(AmlError) as refused:
        _screen(aml_world, payer)
    assert refused.value.code == code
    assert aml_world.count(AmlScreening) == 0


def test_another_merchants_payment_cannot_be_screened(aml_world):
    payment_id = _outbound(aml_world, aml_world.b)
    with pytest.raises(AmlError) as refused:
        _screen(aml_world, CLEAN, merchant=aml_world.a, payment_id=payment_id)
    assert refused.value.code == "payment_not_found"


def test_merchant_is_screened_at_onboarding(aml_world):
    with aml_world.db.session() as session, session.begin():
        listed = Merchant(name="Jinhai Trading Company", industry="manufacturing")
        session.add(listed)
        session.flush()
        held = screen_merchant(session, listed)
        clean = screen_merchant(session, session.get(Merchant, aml_world.a))
    assert held.hold and held.hits[0]["list"] == "Internal watch list"
    assert not clean.hold
    with aml_world.db.reader() as session:
        assert session.get(AmlScreening, held.screening_id).subject == "merchant"


def test_a_merchants_uploaded_list_screens_only_its_own_payments(aml_world):
    with aml_world.db.session() as session, session.begin():
        stored = upload_list(session, aml_world.a, "Supplier blacklist", OWN_LIST, "api_key:risk")
    assert stored.entry_count == 1 and stored.scope == str(aml_world.a)
    assert _screen(aml_world, CLEAN, merchant=aml_world.a).hold
    assert not _screen(aml_world, CLEAN, merchant=aml_world.b).hold


def test_an_upload_in_one_process_reaches_the_cache_of_another(aml_world):
    other_process = WatchListCache(aml_world.lists)
    with aml_world.db.reader() as session:
        before = other_process.lists_for(session, aml_world.b)
    with aml_world.db.session() as session, session.begin():
        upload_list(session, None, "Operator list", OWN_LIST, "platform")  # the platform's: every merchant
    with aml_world.db.reader() as session:
        after = other_process.lists_for(session, aml_world.b)
    assert after.entry_count == before.entry_count + 1 and after.version != before.version
    assert not _screen(aml_world, {"creditor_name": "Lotus Paper Mill"}).hold
    assert _screen(aml_world, CLEAN, merchant=aml_world.b).hold


def test_replacing_a_list_by_name_bumps_the_version_once_per_upload(aml_world):
    with aml_world.db.session() as session, session.begin():
        upload_list(session, aml_world.a, "Supplier blacklist", OWN_LIST, "api_key:risk")
        upload_list(session, aml_world.a, "Supplier blacklist", OWN_LIST.replace("Suzhou Bright", "Ningbo Dark"), "api_key:risk")
    with aml_world.db.reader() as session:
        assert session.get(AmlListVersion, str(aml_world.a)).version == 2
    assert aml_world.count(AmlWatchList) == 1
    assert not _screen(aml_world, CLEAN).hold


@pytest.mark.parametrize("name, text, code, line", [
    ("Bad rows", "name,aliases,type,country,dob,list\nAcme,,spaceship,CN,,x\n", "malformed_list", 2),
    ("Empty", "", "malformed_list", None),
    ("Bad/name", OWN_LIST, "invalid_list_name", None),
])
def test_a_malformed_upload_is_refused_with_its_line_and_stores_nothing(aml_world, name, text, code, line):
    with pytest.raises(AmlError) as refused, aml_world.db.session() as session, session.begin():
        upload_list(session, aml_world.a, name, text, "api_key:risk")
    assert (refused.value.code, refused.value.line) == (code, line)
    assert aml_world.count(AmlWatchList) == 0 and aml_world.count(AmlListVersion) == 0


def test_without_any_list_the_screening_says_nothing_was_screened(aml_world):
    configure_watch_lists([])
    decision = _screen(aml_world, SANCTIONED)
    assert not decision.hold
    with aml_world.db.reader() as session:
        assert session.get(AmlScreening, decision.screening_id).entries_screened == 0
