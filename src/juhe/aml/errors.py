"""The one error type of the AML package: a stable `code` for callers, the file line when a file was at fault."""

from __future__ import annotations


class AmlError(ValueError):
    """`code` is stable (API and CLI map it); `line` is the 1-based line of a bad input file, if any."""

    def __init__(self, code: str, message: str, *, line: int | None = None, path: str | None = None):
        where = ", ".join(part for part in (path, f"line {line}" if line is not None else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.code = code
        self.reason = message  # without the file and line, for callers that name the input their own way
        self.line = line
        self.path = path
