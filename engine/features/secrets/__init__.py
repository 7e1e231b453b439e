"""Secret fields: `writeOnly` schema properties encrypted at rest and never read back.

`reveal_secret(app, resource, pk, name)` is the one way back to a plain value, for server-side code.
"""

from engine.features.secrets.plugin import FIELD_KEYS, reveal_secret

__all__ = ["FIELD_KEYS", "reveal_secret"]
