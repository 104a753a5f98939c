"""Users' own vendor keys: Fernet-encrypted at rest (ENCRYPTION_KEY), shown only by a masked tail.

ENCRYPTION_KEY lists keys newest first (MultiFernet): the first encrypts, every one decrypts, so
a key is rotated by putting a new one in front and dropping the old one once nothing uses it.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from models import ApiError

TAIL = 4


class EncryptionNotConfigured(ApiError):
    status_code = 400


class VendorKeyUnreadable(ApiError):
    """A stored key none of ENCRYPTION_KEY's keys decrypts (a key was dropped too soon)."""

    status_code = 500


class VendorKeyCipher:
    def __init__(self, keys: list[SecretStr]) -> None:
        fernets = [Fernet(key.get_secret_value()) for key in keys]
        self._fernet = MultiFernet(fernets) if fernets else None

    def _ready(self) -> MultiFernet:
        if self._fernet is None:
            raise EncryptionNotConfigured(
                "Storing vendor keys needs ENCRYPTION_KEY (a Fernet key) to be set on the server"
            )
        return self._fernet

    def encrypt(self, plain: str) -> str:
        return self._ready().encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._ready().decrypt(stored.encode()).decode()
        except InvalidToken:
            raise VendorKeyUnreadable(
                "A stored vendor key cannot be decrypted with ENCRYPTION_KEY; store it again"
            ) from None


def tail(plain: str) -> str:
    return plain[-TAIL:] if len(plain) > 2 * TAIL else ""


def masked(stored_tail: str) -> str:
    return f"****{stored_tail}"
