"""Live fund monitoring: figures, alert rules, alerts and incidents with response deadlines."""

from juhe.monitor.alerts import Alert, evaluate_rules, raise_alert
from juhe.monitor.rules import KINDS, MonitorError

__all__ = ["KINDS", "Alert", "MonitorError", "evaluate_rules", "raise_alert"]
