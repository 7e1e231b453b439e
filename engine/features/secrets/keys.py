"""The keys that encrypt secret fields: ENGINE_FIELD_KEYS, newest first, or a development key.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) authenticates every value, so a value
changed in the database fails to decrypt instead of decrypting to garbage. MultiFernet encrypts
with the first key and decrypts with any, which is what rotation needs: put a new key first,
run `resource-engine keys rotate`, then drop the old one.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from engine.features.jwt_auth.tokens import development_secret
from engine.kernel.config import Config
from engine.kernel.errors import ConfigurationError

VARIABLE = "ENGINE_FIELD_KEYS"
MAKE_ONE = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class Undecryptable(Exception):
    """A stored secret that no configured key opens (wrong keys, or a value changed in the database)."""


class FieldKeys:
    """Encrypts with the newest key, decrypts and re-encrypts with any of them."""

    def __init__(self, keys: list[str]):
        self.count = len(keys)
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, UnicodeError):
            raise Undecryptable("no configured key decrypts this value") from None

    def rotate(self, token: str) -> str:
        """The same value encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise Undecryptable("no configured key decrypts this value") from None


def is_token(value: str) -> bool:
    """Whether `value` has the shape of a Fernet token (version byte 0x80), whichever key made it."""
    try:
        raw = base64.b64decode(value.encode(), altchars=b"-_", validate=True)
    except (ValueError, TypeError):
        return False
    return len(raw) >= 57 and raw[0] == 0x80


def parse_keys(text: str) -> FieldKeys:
    """ENGINE_FIELD_KEYS as FieldKeys; the error names a bad key by position, never by value."""
    keys = [key.strip() for key in text.split(",") if key.strip()]
    if not keys:
        raise ConfigurationError(f"{VARIABLE} is empty; make a key with: {MAKE_ONE}")
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{VARIABLE}: key {position} of {len(keys)} is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); make one with: {MAKE_ONE}"
            ) from None
    return FieldKeys(keys)


def load_keys(env: Mapping[str, str], *, development: bool, key_file: str) -> FieldKeys:
    """The configured keys; in development a per-project key kept in `key_file` when none is set."""
    text = env.get(VARIABLE)
    if text is not None:
        return parse_keys(text)
    if not development:
        raise ConfigurationError(
            f"a schema has writeOnly (secret) fields and {VARIABLE} is not set: in production secrets are "
            f"encrypted only with keys you chose and keep; make one with: {MAKE_ONE}"
        )
    return parse_keys(development_secret(key_file, lambda: Fernet.generate_key().decode()))


def key_file(root: str) -> str:
    return os.path.normpath(os.path.join(root, ".engine", "field-keys"))


def configured_keys(config: Config, root: str) -> FieldKeys | None:
    """ENGINE_FIELD_KEYS, or in development the project's key file; None in production without the
    setting (what stores encrypted values with no `writeOnly` field in sight, such as webhook
    signing secrets, then stores none)."""
    if config.extra.get(VARIABLE) is None and config.production:
        return None
    return load_keys(config.extra, development=not config.production, key_file=key_file(root))
