"""Secret-field settings, declared for engine.kernel.settings (keys.py checks each key, never echoing it)."""

from __future__ import annotations

from engine.kernel.settings import Setting, text

SETTINGS = (
    Setting(
        "ENGINE_FIELD_KEYS",
        text(),
        None,
        "comma-separated Fernet keys, newest first, encrypting secret (`writeOnly`) fields and webhook signing "
        "secrets; the same on every "
        "instance; `resource-engine keys new` makes one, `keys rotate` re-encrypts",
        "operations",
        shown="development: generated into `.engine/field-keys`; production: required when a schema has a "
        "`writeOnly` field",
    ),
)
