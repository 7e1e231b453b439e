"""Built-in rate limiting: a token bucket per caller, answered 429 with Retry-After when empty."""
