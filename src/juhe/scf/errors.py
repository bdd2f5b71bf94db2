"""One error type for supply-chain finance, with the HTTP status and the stable code the API answers."""


class ScfError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
