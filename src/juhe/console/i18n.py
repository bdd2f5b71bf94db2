"""The console's labels in English and Chinese. The language is a cookie the switch sets."""

from __future__ import annotations

LANGUAGES = ("en", "zh")
LABELS: dict[str, tuple[str, str]] = {  # key: (English, 中文)
    "console": ("Juhe console", "聚合控制台"),
    "invoices": ("Receipts and invoices", "凭证与发票"), "receipts": ("Receipts", "交易凭证"),
    "issue_invoice": ("Issue invoice", "开具发票"), "invoice_issued": ("Invoice issued:", "发票已开具："),
    "buyer_name": ("Buyer (抬头)", "购买方抬头"), "buyer_tax_id": ("Buyer taxpayer id", "购买方统一社会信用代码"),
    "number": ("Number", "发票号码"), "issued_at": ("Issued", "开具时间"), "tax": ("Tax", "税额"), "total": ("Total", "价税合计"),
    "payment": ("Payment", "支付单"), "leaf": ("Log leaf", "上链序号"), "invoice_blue": ("blue", "蓝字"), "invoice_red": ("red-letter", "红字"),
    "receipt_payment": ("Payment", "支付"), "receipt_refund": ("Refund", "退款"), "payer_link": ("Payer's page", "付款人页面"),
    "login": ("Log in", "登录"), "logout": ("Log out", "退出"),
    "login_name": ("Login", "账号"), "password": ("Password", "密码"),
    "overview": ("Fund monitor", "资金监控"), "payments": ("Payments", "支付"),
    "recon": ("Reconciliation", "对账"), "settlement": ("Settlement", "结算"),
    "risk": ("Risk", "风控"), "aml": ("AML", "反洗钱"), "developers": ("Developers", "开发者"),
    "forbidden": ("Your role may not open this page or do this.", "您的角色无权访问此页面或执行此操作。"),
    "live_flow": ("Live flow (last 15 minutes)", "实时交易流（最近15分钟）"),
    "success_rate": ("Success rate per channel", "各渠道成功率"),
    "balances": ("Balances", "余额"), "fee_rates": ("Fee rates paid (last 24 h)", "实付费率（24小时）"),
    "incidents": ("Open alerts and incidents", "未结告警与事件"),
    "channel": ("Channel", "渠道"), "currency": ("Currency", "币种"), "count": ("Payments", "笔数"),
    "amount": ("Amount", "金额"), "succeeded": ("Succeeded", "成功"), "failed": ("Failed", "失败"),
    "group": ("Account group", "账户类别"), "posted": ("Posted", "已入账"), "held": ("Held", "冻结"),
    "available": ("Available", "可用"), "fee_bps": ("Fee (bps)", "费率（基点）"),
    "kind": ("Kind", "类型"), "status": ("Status", "状态"), "due": ("Due", "截止"),
    "overdue": ("overdue", "已逾期"), "owner": ("Owner", "负责人"), "none": ("None", "无"),
    "recent_payments": ("Recent payments", "最新支付"), "created": ("Created", "创建时间"),
    "subject": ("Subject", "商品"), "search": ("Search", "查询"), "all": ("All", "全部"),
    "timeline": ("Timeline", "时间线"), "routing": ("Routing", "路由"), "risk_decision": ("Risk decision", "风控决策"),
    "refund": ("Refund", "退款"), "refundable": ("Refundable", "可退金额"), "refunds": ("Refunds", "退款记录"),
    "refund_confirm": ("Refund this amount? This cannot be undone.", "确认退款该金额？此操作不可撤销。"),
    "refund_amount_hint": ("Leave empty to refund all that is left", "留空则退还全部剩余金额"),
    "reason": ("Reason", "原因"), "postings": ("Ledger postings", "账务分录"), "webhooks": ("Webhooks", "回调通知"),
    "notifications": ("Channel notifications", "渠道通知"), "account": ("Account", "账户"),
    "recon_runs": ("Runs per channel and date", "各渠道每日对账批次"), "recon_cases": ("Discrepancy cases", "差异案件"),
    "business_date": ("Business date", "业务日期"), "lines": ("Statement lines", "账单行数"), "summary": ("Summary", "汇总"),
    "category": ("Category", "差异类型"), "ours": ("Our books", "我方账"), "theirs": ("Channel's statement", "渠道账单"),
    "comment": ("Comment", "备注"), "case_comment": ("Comment", "添加备注"), "case_assign": ("Assign", "指派"),
    "case_write_off": ("Write off the difference", "核销差额"), "case_adjust": ("Adjust", "调账"),
    "case_confirm": ("Post this to the ledger and close the case?", "确认记账并关闭该案件？"),
    "api_keys": ("API keys", "API 密钥"), "name": ("Name", "名称"), "prefix": ("Prefix", "前缀"),
    "revoke": ("Revoke", "吊销"), "revoked": ("revoked", "已吊销"),
    "revoke_confirm": ("Revoke this key? Apps using it stop working at once.", "确认吊销该密钥？使用它的应用将立即失效。"),
    "webhook_endpoints": ("Webhook endpoints", "回调地址"), "deliveries": ("Webhook delivery log", "回调投递记录"),
    "attempts": ("Attempts", "尝试次数"), "terminals": ("Store terminals", "门店终端"),
    "channel_health": ("Channel health", "渠道健康"), "samples": ("Recent calls", "近期调用"), "circuit": ("Circuit", "熔断"),
    "circuit_open": ("open (failing)", "已熔断"), "circuit_closed": ("closed", "正常"),
    "batches": ("Settlement batches", "结算批次"), "settlement_date": ("Settlement date", "结算日"),
    "gross": ("Gross", "总额"), "fees": ("Fees", "手续费"), "net": ("Net", "净额"), "items": ("Items", "笔数"),
    "payout": ("Payout", "出款"), "reserve_proofs": ("Reserve-fund proofs (备付金)", "备付金核对"), "day": ("Day", "日期"),
    "bank_balance": ("Bank balance", "银行余额"), "ledger_reserve": ("Ledger reserve", "账面备付金"),
    "liabilities": ("Owed to merchants", "应付商户"), "difference": ("Difference", "差额"),
    "aml_cases": ("AML cases", "反洗钱案件"), "aml_alerts": ("Monitoring alerts", "监测预警"),
    "scenario": ("Scenario", "场景"), "score": ("Score", "评分"),
    "decisions": ("Recent decisions", "最新风控决策"), "decision": ("Decision", "决策"),
    "step_ups": ("Step-up outcomes", "加强验证结果"), "model_report": ("Model report", "模型报告"),
    "no_model": ("No trained model: decisions by rules and amount tiers", "未训练模型：按规则与金额分层决策"),
    "rules": ("Rules in force (edit, then dry-run)", "生效规则（编辑后先试运行）"), "dry_run": ("Dry run over 30 days", "用近30天数据试运行"),
    "days": ("Days", "天数"), "fired": ("Fired", "命中"), "would_step_up": ("Would step up", "将加强验证"),
    "would_block": ("Would block", "将拦截"),
    "activate_hint": ("Activation applies to every merchant: the platform operator runs juhe risk activate-rules.",
                      "规则生效影响所有商户：由平台运营方执行 juhe risk activate-rules。"),
    "qr_codes": ("QR codes", "聚合码"), "store": ("Store", "门店"), "new_qr_code": ("New static code", "新建静态码"),
    "checkout": ("Checkout", "收银台"), "open_amount": ("amount entered by the payer", "付款人输入金额"), "issue": ("Issue", "生成"),
    "installments": ("Installments", "分期"), "preview_amount": ("Amount to preview", "试算金额"), "periods": ("Periods", "期数"),
    "fee_rate_per_period": ("Fee rate per period", "每期费率"), "per_period": ("Per period", "每期应还"),
    "payer_fee": ("Payer's fee", "用户手续费"), "merchant_fee": ("Merchant's fee", "商户贴息"), "payer_total": ("Payer repays", "用户总还款"),
    "fee_borne_by_payer": ("fee paid by the payer", "用户承担手续费"), "fee_borne_by_merchant": ("interest-free, the merchant pays the fee", "免息（商户贴息）"),
    "bnpl": ("Buy now, pay later", "先享后付"), "credit_lines": ("Credit lines", "信用额度"), "customer": ("Customer", "用户"),
    "limit": ("Limit", "额度"), "owed": ("Owed", "待还"),
    "reasons": ("Reasons", "原因"), "bnpl_orders": ("Orders", "订单"), "principal": ("Principal", "本金"),
    "late_fees": ("Late fees", "逾期费"), "repaid": ("Repaid", "已还"), "written_off": ("Written off", "核销"),
    "repayments": ("Repayments", "还款"), "subscriptions": ("Subscriptions", "订阅"), "plan": ("Plan", "套餐"),
    "quantity": ("Quantity", "数量"), "current_period": ("Current period", "当前周期"), "credit": ("Credit", "余额抵扣"),
    "cancel_at_period_end": ("cancels at period end", "周期末取消"), "pause_at_period_end": ("pauses at period end", "周期末暂停"),
    "subscription_invoices": ("Invoices", "账单"), "subtotal": ("Subtotal", "小计"), "discount": ("Discount", "优惠"),
    "amount_due": ("Amount due", "应付"),
    "next": ("Next page", "下一页"), "role": ("Role", "角色"), "merchant": ("Merchant", "商户"),
    "issue_key": ("Issue key", "签发密钥"), "add_endpoint": ("Add endpoint", "添加回调地址"),
    "register_terminal": ("Register terminal", "登记终端"), "disable": ("Disable", "停用"),
    "disable_confirm": ("Disable it? This takes effect at once.", "确认停用？立即生效。"),
    "shown_once": ("shown this once, copy it now", "仅显示一次，请立即复制"),
    "api_key_secret": ("New API key", "新 API 密钥"), "webhook_secret": ("Signing secret of the endpoint", "回调签名密钥"),
    "terminal_mac_key": ("MAC key to load into the terminal", "终端 MAC 密钥"),
    "statement": ("Statement", "对账单"), "form_error": ("The form was not filled in right", "表单填写有误"), "back": ("Back", "返回"),
    "decide": ("Decide", "裁定"), "decide_confirm": ("Record this decision? It stays in the case file.", "确认记录该裁定？将永久存档。"),
}


def language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else "en"


def translator(lang: str):
    index = LANGUAGES.index(lang)

    def t(key: str) -> str:
        return LABELS[key][index] if key in LABELS else key

    return t
