"""Periodic reports as PDFs: the monthly transaction review (月度交易复盘) and the quarterly
compliance report (季度合规报告), figures read from the books, charts drawn with matplotlib."""
