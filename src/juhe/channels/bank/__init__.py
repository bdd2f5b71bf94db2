"""Corporate online banking: credit transfer files (ISO 20022 pain.001) over a host-to-host
HTTPS API, status reports (pain.002), and account statements (camt.053, MT940)."""

from juhe.channels.bank.adapter import BankChannel, BankConfig, SubmissionReceipt, read_statements
from juhe.channels.bank.pain002 import ItemStatus
from juhe.channels.bank.statement import BankEntry, BankStatement
from juhe.channels.bank.transfers import LineError, TransferItem, batch_total, parse_transfer_lines

__all__ = [
    "BankChannel", "BankConfig", "BankEntry", "BankStatement", "ItemStatus", "LineError", "SubmissionReceipt",
    "TransferItem", "batch_total", "parse_transfer_lines", "read_statements",
]  # fmt: skip
