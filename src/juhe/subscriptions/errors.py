"""One error type for subscriptions, with the HTTP status and the stable code the API answers."""


class SubscriptionError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra
