"""The two reports as PDF (Chinese and English, with charts) and as the JSON summary the CLI
prints. Amounts in the PDF are decimal text of their currency (thousands separated); in JSON integer minor units.
Rates are fractions 0-1 in JSON, percentages in the PDF."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from juhe.money import Money, exponent
from juhe.receipts.pdf import beijing
from juhe.reports import charts
from juhe.reports.compliance import ComplianceReport
from juhe.reports.monthly import DIMENSIONS, Figures, MonthlyReview
from juhe.reports.pdf import Report

DIMENSION_TITLES = {"channel": "按渠道 By channel", "store": "按门店 By store", "business_line": "按业务线 By business line"}
SUMMARY_ROWS = (  # (label, figure, is an amount)
    ("支付笔数 Payments", "payments", False), ("成功笔数 Succeeded", "succeeded", False),
    ("成功金额 Succeeded volume", "volume_minor", True), ("商户手续费 Fees charged", "fee_minor", True),
    ("渠道成本 Channel fees", "channel_fee_minor", True), ("退款笔数 Refunds", "refunds", False),
    ("退款金额 Refunded", "refunded_minor", True), ("加强验证 Risk step-ups", "step_ups", False),
    ("拦截 Risk blocks", "blocks", False),
)


def amount(minor: int, currency: str) -> str:
    """Decimal text of the currency with thousands separated: 84,699.30."""
    return f"{Decimal(Money(minor, currency).decimal_text()):,}"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def change(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:+.1f}%"


def _points(now: float | None, before: float | None) -> str:
    return "—" if now is None or before is None else f"{(now - before) * 100:+.1f} pt"


def _figure_row(f: Figures) -> list[str]:
    return [f.name, f.currency, str(f.payments), percent(f.success_rate), amount(f.volume_minor, f.currency),
            amount(f.fee_minor, f.currency), str(f.refunds), amount(f.refunded_minor, f.currency), str(f.step_ups), str(f.blocks)]


def _volume_change(f: Figures, previous: Figures | None) -> str:
    base = previous.volume_minor if previous else 0
    return change((f.volume_minor - base) / base) if base else "new 新增"


FIGURE_HEADER = ["名称 Name", "币种 Cur.", "笔数 Payments", "成功率 Success", "成功金额 Volume", "手续费 Fees",
                 "退款 Refunds", "退款金额 Refunded", "加强验证 Step-ups", "拦截 Blocks"]


def monthly_pdf(review: MonthlyReview, generated_at: datetime) -> bytes:
    label = review.period.label
    report = Report(f"月度交易复盘 Monthly transaction review {label}")
    report.heading(f"月度交易复盘 Monthly transaction review · {label}", 1)
    report.text(f"商户 Merchant: {review.merchant}")
    report.text(f"期间 Period: {review.period.first_day} – {review.period.last_day} (北京时间 Beijing time); "
                f"环比 compared with {review.period.previous_month().label}")
    report.text(f"生成时间 Generated: {beijing(generated_at)}")
    report.heading("总览 Summary")
    if not review.totals:
        report.text("本月无交易 No payments this month.")
    for currency, total in sorted(review.totals.items()):
        before = review.previous_totals.get(currency)
        rows = [[label_, amount(getattr(total, name), currency) if money else str(getattr(total, name)),
                 (amount(getattr(before, name), currency) if money else str(getattr(before, name))) if before else "—",
                 change(review.change(currency, name))] for label_, name, money in SUMMARY_ROWS]
        rows.insert(2, ["成功率 Success rate", percent(total.success_rate), percent(before.success_rate) if before else "—",
                        _points(total.success_rate, before.success_rate if before else None)])
        report.table([f"指标 Figure ({currency})", "本月 This month", "上月 Previous month", "环比 Change"], rows)
    report.text(f"欺诈报告 Payments reported as fraud this month: {review.fraud_reported}")
    for currency, out in review.payments_out.items():
        report.text(f"对外付款 Payments out (B2B, cross-border; not in the figures above), {currency}: {out['payments']} payments, "
                    f"{out['succeeded']} succeeded, {amount(out['volume_minor'], currency)}")
    for currency, total in sorted(review.totals.items()):
        now = {f.name: f.volume_minor for f in review.by["channel"] if f.currency == currency}
        before = {name: f.volume_minor for (name, cur), f in review.previous_by_channel.items() if cur == currency}
        report.chart(charts.volume_by_channel(currency, now, before, exponent(currency)))
        if review.daily.get(currency):
            report.chart(charts.daily_volume(currency, review.daily[currency], exponent(currency), review.period.first_day,
                                             review.period.next_day))
    rates = _channel_rates(review.by["channel"])
    if rates:
        report.chart(charts.success_rate_by_channel(rates))
    for dimension in DIMENSIONS:
        report.heading(DIMENSION_TITLES[dimension])
        if dimension == "channel":
            report.table(FIGURE_HEADER + ["环比 Volume change"],
                         [_figure_row(f) + [_volume_change(f, review.previous_by_channel.get((f.name, f.currency)))]
                          for f in review.by[dimension]], figures_from=2)
        else:
            report.table(FIGURE_HEADER, [_figure_row(f) for f in review.by[dimension]], figures_from=2)
    report.heading("对账 Reconciliation")
    report.table(["渠道 Channel", "对账批次 Runs", "账单行 Lines", "勾兑成功 Matched", "差异案件 Cases", "未结 Open", "差异类型 Categories"],
                 [[r.channel, r.runs, r.lines, r.matched, r.cases, r.open,
                   ", ".join(f"{k} {v}" for k, v in sorted(r.by_category.items())) or "—"] for r in review.recon])
    return report.render(generated_at)


def _channel_rates(rows: list[Figures]) -> dict[str, float]:
    merged: dict[str, Figures] = {}
    for row in rows:
        merged.setdefault(row.name, Figures(row.name, "")).add(row)
    return {name: f.success_rate for name, f in merged.items() if f.success_rate is not None}


def monthly_json(review: MonthlyReview) -> dict:
    return {
        "month": review.period.label, "merchant": review.merchant, "previous_month": review.period.previous_month().label,
        "totals": {c: f.to_json() | {"change": {name: review.change(c, name) for _, name, _ in SUMMARY_ROWS}}
                   for c, f in sorted(review.totals.items())},
        "previous_totals": {c: f.to_json() for c, f in sorted(review.previous_totals.items())},
        **{f"by_{d}": [f.to_json() for f in review.by[d]] for d in DIMENSIONS},
        "recon": [vars(r) for r in review.recon], "payments_out": review.payments_out, "fraud_reported": review.fraud_reported,
    }


def compliance_pdf(report_: ComplianceReport, generated_at: datetime) -> bytes:
    r = report_
    label = r.period.label
    report = Report(f"季度合规报告 Quarterly compliance report {label}")
    report.heading(f"季度合规报告 Quarterly compliance report · {label}", 1)
    report.text(f"商户 Merchant: {r.merchant}")
    report.text(f"期间 Period: {r.period.first_day} – {r.period.last_day} (北京时间 Beijing time)")
    report.text(f"生成时间 Generated: {beijing(generated_at)}")

    report.heading("反洗钱监测 AML monitoring")
    report.text(f"预警 Alerts raised: {r.alerts} · 新立案件 Cases opened: {r.cases_opened} · "
                f"期末未结案件 Cases undecided at the end: {r.cases_open_at_end}")
    report.table(["场景 Scenario", "预警 Alerts"], [[k, v] for k, v in r.alerts_by_scenario.items()], empty="no alerts 无预警")
    report.table(["案件状态 Case status (opened this quarter)", "案件 Cases"], [[k, v] for k, v in r.cases_by_status.items()],
                 empty="no cases 无案件")
    if r.alerts_by_scenario:
        report.chart(charts.counts("AML alerts by scenario", r.alerts_by_scenario))

    report.heading("可疑交易报告 Suspicious-transaction reports (STR)")
    report.text(f"本季度报送 Filed this quarter: {len(r.strs)}")
    report.table(["案件 Case", "商户 Merchant", "账户 Account", "预警 Alerts", "报送时间 Decided", "理由 Reason"],
                 [[s.case, s.merchant, s.account, s.alerts, beijing(s.decided_at), s.reason] for s in r.strs],
                 empty="none filed 无", figures_from=3)

    report.heading("大额交易报告 Large-value transaction reports")
    if r.large_value_problem:
        report.text(f"not computed 未生成: {r.large_value_problem}")
    report.table(["币种 Currency", "报告 Reports (customer-days)", "交易 Movements", "金额 Amount"],
                 [[v.currency, v.reports, v.movements, amount(v.amount_minor, v.currency)] for v in r.large_value],
                 empty="none reportable 无达标交易")

    report.heading("备付金核对 Reserve-fund proofs")
    if r.reserve is None:
        report.text("备付金为平台整体记录，不按商户列示 The reserve covers every merchant's money: it is in the platform's report.")
    else:
        report.table(["币种 Currency", "核对天数 Days proven", "不符天数 Days failed", "最低覆盖 Smallest coverage", "不符日期 Failed on"],
                     [[p.currency, p.days, len(p.failed_days), amount(p.smallest_coverage_minor or 0, p.currency),
                       ", ".join(p.failed_days) or "—"] for p in r.reserve], empty="no proofs 无核对记录")

    report.heading("审计日志 Audit trail")
    chain = "verifies 校验通过" if r.audit_chain_ok else "BROKEN 校验失败"
    report.text(f"本季度记录 Records this quarter: {r.audit_records} · 操作人 Actors: {r.audit_actors} · "
                f"哈希链 Hash chain ({r.audit_chain_records} records in all): {chain}")
    for problem in r.audit_chain_problems:
        report.text(f"✗ {problem}")
    report.table(["结果 Outcome", "记录 Records"], [[k, v] for k, v in sorted(r.audit_by_outcome.items())], empty="no records 无记录")
    report.table(["操作 Action (most frequent)", "记录 Records"], [[k, v] for k, v in r.audit_top_actions], empty="no records 无记录")

    report.heading("权限复核 Access review")
    flagged = sum(1 for a in r.access if a.review)
    report.text(f"控制台用户 Console users: {sum(1 for a in r.access if a.kind == 'console_user')} · "
                f"API 密钥 API keys: {sum(1 for a in r.access if a.kind == 'api_key')} · 需复核 To review: {flagged}. "
                "Last use: a user's last login, a key's last audited change (reads are not audited).")
    report.table(["账号 Who", "类型 Kind", "商户 Merchant", "角色 Role", "创建 Created", "最近使用 Last use", "状态 Status", "复核 Review"],
                 [[a.name, a.kind, a.merchant, a.role, beijing(a.created_at)[:10], beijing(a.last_used_at)[:16] if a.last_used_at else "—",
                   a.status, a.review or "—"] for a in r.access], figures_from=99)
    return report.render(generated_at)


def compliance_json(r: ComplianceReport) -> dict:
    return {
        "quarter": r.period.label, "merchant": r.merchant, "alerts": r.alerts, "alerts_by_scenario": r.alerts_by_scenario,
        "cases_opened": r.cases_opened, "cases_by_status": r.cases_by_status, "cases_open_at_end": r.cases_open_at_end,
        "strs": len(r.strs), "large_value": [vars(v) for v in r.large_value], "large_value_problem": r.large_value_problem,
        "reserve": None if r.reserve is None else [vars(p) for p in r.reserve],
        "audit": {"records": r.audit_records, "actors": r.audit_actors, "by_outcome": r.audit_by_outcome,
                  "chain_ok": r.audit_chain_ok, "chain_records": r.audit_chain_records},
        "access": {"console_users": sum(1 for a in r.access if a.kind == "console_user"),
                   "api_keys": sum(1 for a in r.access if a.kind == "api_key"),
                   "to_review": sum(1 for a in r.access if a.review)},
    }
