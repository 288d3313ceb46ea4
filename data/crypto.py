"""Personal data at rest: Fernet encryption, and masking for display.

The key comes from ``DAIHOU_SECRET_KEY`` (or ``[daihou] secret_key`` in secrets.toml);
without one, a key is generated once into ``.daihou.key`` in the repository root, which
git ignores. Losing the key makes stored names, id numbers and phones unreadable; the
risk figures do not depend on them.
"""

from __future__ import annotations

import os
from functools import lru_cache

import pandas as pd
from cryptography.fernet import Fernet

from data.config import REPO_ROOT, settings

__all__ = ["fernet", "encrypt_series", "decrypt_value", "mask_name", "mask_id_number", "mask_phone"]

KEY_FILE = REPO_ROOT / ".daihou.key"


@lru_cache(maxsize=4)
def _fernet_for(key: bytes) -> Fernet:
    return Fernet(key)


def fernet() -> Fernet:
    """The store's Fernet cipher (key from configuration or the local key file)."""
    key = settings().secret_key
    if key:
        return _fernet_for(key.encode())
    if not KEY_FILE.exists():
        KEY_FILE.write_bytes(Fernet.generate_key())
        os.chmod(KEY_FILE, 0o600)
    return _fernet_for(KEY_FILE.read_bytes().strip())


def encrypt_series(values: pd.Series) -> pd.Series:
    """Encrypt each non-missing value (as text); missing stays missing."""
    f = fernet()
    return values.map(lambda v: None if pd.isna(v) or v == "" else f.encrypt(str(v).encode()).decode())


def decrypt_value(token: str | None, cipher: Fernet | None = None) -> str | None:
    """Decrypt one stored value; ``None`` when missing or the key does not match.

    ``cipher`` defaults to :func:`fernet`, which reads the configuration (a file) each
    time: a caller decrypting many values passes ``fernet()`` once.
    """
    if not token:
        return None
    try:
        return (cipher or fernet()).decrypt(token.encode()).decode()
    except Exception:  # InvalidToken: another key
        return None


def mask_name(name: str | None) -> str:
    """张三丰 -> 张**; John Smith -> J*** S****."""
    if not name:
        return ""
    if name.isascii():
        return " ".join(p[0] + "*" * (len(p) - 1) for p in name.split())
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(value: str | None) -> str:
    """Keep the first 3 and last 4 characters: 110***********1234."""
    if not value:
        return ""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]


def mask_phone(value: str | None) -> str:
    """138****5678."""
    if not value:
        return ""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:]
