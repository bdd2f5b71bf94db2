"""The one error type of settlement, with an HTTP status and a stable code."""

from __future__ import annotations


class SettlementError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.code, self.errors = status, code, errors or []
