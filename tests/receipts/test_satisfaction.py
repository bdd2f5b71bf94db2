"""Satisfaction (满意度): the payer rates a payment 1–5 with a comment on its receipt page, once;
bad ratings come back to the page by their code and save nothing; monitoring gives the figures
per store, channel and scenario (API and the console's fund monitor), each merchant its own."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from juhe.console.users import add_user
from juhe.db.models import Store
from juhe.payments.models import Payment
from juhe.satisfaction.models import SatisfactionRating
from tests.receipts.test_invoice_requests import receipt_path

PASSWORD = "correct horse 1"


def ratings(env) -> int:
    with env.db.reader() as session:
        return session.scalar(select(func.count()).select_from(SatisfactionRating))


def rate(env, page: str, **form):
    return env.client.post(f"{page}/rating", data=form, follow_redirects=False)


def test_the_payer_rates_once_on_the_receipt_page_and_bad_ratings_change_nothing(env):
    page = receipt_path(env, env.paid(4500))
    assert "提交评价 Rate" in env.client.get(page).text
    for form, code in (({"score": "0"}, "invalid_score"), ({"score": "6"}, "invalid_score"), ({"score": "five"}, "invalid_score"),
                       ({}, "invalid_score"), ({"score": "5", "comment": "x" * 501}, "comment_too_long")):
        refused = rate(env, page, **form)
        assert refused.status_code == 303 and refused.headers["location"].endswith(f"?rating_error={code}"), form
    assert "请选择1到5星" in env.client.get(f"{page}?rating_error=invalid_score").text
    assert ratings(env) == 0
    assert rate(env, page, score="4", comment=" 很快 quick ").headers["location"] == page
    shown = env.client.get(page).text
    assert "感谢评价 Thank you: ★★★★☆ — 很快 quick" in shown and "提交评价 Rate" not in shown
    again = rate(env, page, score="1")
    assert again.headers["location"].endswith("?rating_error=already_rated")
    with env.db.reader() as session:
        (row,) = session.scalars(select(SatisfactionRating)).all()
    assert (row.score, row.comment, row.channel, row.scenario) == (4, "很快 quick", "alipay", "qr")
    assert env.client.post("/receipts/not-a-receipt-token-at-all/rating", data={"score": "5"}).status_code == 404


def test_monitoring_gives_the_figures_per_store_channel_and_scenario(env):
    with env.db.reader() as session:
        store = session.scalar(select(Store).where(Store.merchant_id == env.merchant_id(), Store.code == "sh-01"))
    for amount, score in ((1000, 5), (2000, 4), (3000, 2), (4000, 5)):
        paid = env.paid(amount)
        if score != 2:
            with env.db.session() as session, session.begin():
                session.execute(update(Payment).where(Payment.id == paid).values(store_id=store.id))
        rate(env, receipt_path(env, paid), score=str(score))
    rate(env, receipt_path(env, env.paid(500, merchant=1), merchant=1), score="1")
    figures = env.client.get("/v1/monitor/satisfaction", headers=env.key("finance")).json()
    assert (figures["ratings"], figures["mean_score"], figures["satisfied_rate"], figures["aim_satisfied_rate"]) == (4, 4.0, 0.75, 0.9)
    assert sorted(figures["by_store"], key=lambda r: r["ratings"]) == [  # a payment of no store apart
            {"store": None, "ratings": 1, "mean_score": 2.0, "satisfied_rate": 0.0},
            {"store": "sh-01", "ratings": 3, "mean_score": 4.67, "satisfied_rate": 1.0}]
    assert figures["by_channel"] == [{"channel": "alipay", "ratings": 4, "mean_score": 4.0, "satisfied_rate": 0.75}]
    assert figures["by_scenario"] == [{"scenario": "qr", "ratings": 4, "mean_score": 4.0, "satisfied_rate": 0.75}]
    other = env.client.get("/v1/monitor/satisfaction", headers=env.key("finance", 1)).json()
    assert (other["ratings"], other["satisfied_rate"]) == (1, 0.0)
    assert env.client.get("/v1/monitor/satisfaction?days=0", headers=env.key("finance")).status_code == 422
    assert env.client.get("/v1/monitor/satisfaction", headers=env.key("business")).status_code == 403

    with env.db.session() as session, session.begin():
        add_user(session, "finance@rated", "Finance", "finance", PASSWORD, env.merchant_id())
    login = env.client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    env.client.post("/console/login", data={"login": "finance@rated", "password": PASSWORD, "csrf_token": token})
    overview = env.client.get("/console/").text
    panel = overview[overview.index('id="satisfaction"'):]
    assert "Payer satisfaction" in panel and "<b>4</b>" in panel and "75.0 %" in panel and "sh-01" in panel
