import math

from models import ApiError


class LimitExceeded(ApiError):
    """A 429 whose Retry-After says when the client may try again."""

    status_code = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}
