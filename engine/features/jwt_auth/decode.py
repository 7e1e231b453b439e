"""Decoding a JWT with its failures worded by the caller.

Access tokens and OpenID Connect ID tokens fail in the same ways (expired, wrong audience, bad
signature...) but each answers in its own words and with its own Problem; the mapping from
PyJWT's exception classes to those words lives here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jwt

Failures = Mapping[type[jwt.InvalidTokenError], str]


def decode_or_refuse(
    token: str,
    key: Any,
    *,
    refuse: Callable[[str], Exception],
    failures: Failures,
    otherwise: str,
    what: str,
    **options: Any,
) -> dict[str, Any]:
    """`jwt.decode(token, key, **options)`, raising `refuse(message)` instead of PyJWT's errors.

    The message is the first of `failures` whose class the error is an instance of (so order
    them specific first, as `except` clauses), else `otherwise` with `{error}` replaced by the
    error's class name, which tells a client what is wrong without echoing the token back. A
    required claim the token lacks is named: "the <what> has no 'aud' claim".
    """
    try:
        return jwt.decode(token, key, **options)
    except jwt.MissingRequiredClaimError as exc:
        raise refuse(f"{what} has no {exc.claim!r} claim") from None
    except jwt.InvalidTokenError as exc:
        message = next((text for kind, text in failures.items() if isinstance(exc, kind)), None)
        raise refuse(message or otherwise.format(error=type(exc).__name__)) from None
