"""Anti-money laundering: sanctions screening, transaction monitoring, cases and reports.

Pure logic over plain dataclasses and Polars frames, plus CSV/JSON files; the database and the
API call these (service.py holds the flows they need). Names are imported on first use, so that
`juhe --help` does not pay for Polars, rapidfuzz and pypinyin.
"""

from importlib import import_module

_HOMES = {
    "juhe.aml.alerts": ("Alert",),
    "juhe.aml.cases": ("Case", "add_alerts", "add_comment", "decide", "open_case", "open_cases", "reassign"),
    "juhe.aml.config": ("CurrencyLimits", "MonitoringConfig"),
    "juhe.aml.errors": ("AmlError",),
    "juhe.aml.generator": ("generate_movements",),
    "juhe.aml.large_value": ("large_value_csv", "large_value_report"),
    "juhe.aml.lists": ("WatchEntry", "load_list"),
    "juhe.aml.movements": ("MOVEMENTS", "check_movements", "movements_frame", "read_movements_csv"),
    "juhe.aml.scenarios": ("SCENARIOS", "monitor"),
    "juhe.aml.screening": ("Hit", "ScreeningResult", "WatchList"),
    "juhe.aml.service": ("MonitoringRun", "Party", "PartyScreening", "load_watch_list", "monitor_file",
                         "screen_parties", "write_large_value_report", "write_suspicious_report"),
    "juhe.aml.suspicious_report": ("Subject", "report_csv", "report_json", "suspicious_transaction_report"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'juhe.aml' has no attribute {name!r}")
    return getattr(import_module(_MODULE_OF[name]), name)
