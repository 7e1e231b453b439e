"""Scoped API keys: `POST /api/me/api-keys`, `X-API-Key` or `Authorization: Bearer rek_...`."""
