"""The webhook tables and their fixed statements: endpoints, and one delivery row per (endpoint, event).

A delivery is *due* while its status is `pending` and `next_attempt_at` has passed. A worker claims
due rows with ``FOR UPDATE SKIP LOCKED`` and, in the same statement, pushes `next_attempt_at` past
the attempt's lease: no other worker takes it meanwhile, and if the worker dies mid-attempt the row
simply becomes due again when the lease ends (at least once, nothing lost). The attempt's outcome
is then written with the attempt number it claimed, so a late answer never overwrites a newer one.
"""

from __future__ import annotations

from typing import Any

import sqlglot

from engine.db.internal import table_model
from engine.sql.compiled import Compiled, compile_expression

ENDPOINTS = "_engine_webhooks"
DELIVERIES = "_engine_webhook_deliveries"
STATUSES = ("pending", "succeeded", "failed")


def _col(sql_type: str, nullable: bool = False, default: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": sql_type, "nullable": nullable, "default": default}


_NOW = {"kind": "now"}
ENDPOINTS_MODEL = table_model(
    ENDPOINTS,
    {
        "id": _col("uuid", default={"kind": "uuid"}),
        "url": _col("text"),
        "resources": _col("jsonb"),
        "actions": _col("jsonb"),
        "filter": _col("jsonb", nullable=True),
        "description": _col("text", nullable=True),
        # enc1:<Fernet token> of whsec_<base64> (secrets.py): needed to sign, so kept encrypted; shown once
        "secret": _col("text"),
        "enabled": _col("boolean", default={"kind": "value", "value": True, "type": "boolean"}),
        "failures": _col("integer", default={"kind": "value", "value": 0, "type": "integer"}),
        "disabled_at": _col("timestamptz", nullable=True),
        "created_at": _col("timestamptz", default=_NOW),
    },
    "id",
)
DELIVERIES_MODEL = table_model(
    DELIVERIES,
    {
        "id": _col("uuid", default={"kind": "uuid"}),
        "endpoint_id": _col("uuid"),
        "event_id": _col("bigint"),
        "event_type": _col("text"),
        "body": _col("text"),  # the exact bytes signed and sent, the same on every attempt
        "status": _col("text", default={"kind": "value", "value": "pending", "type": "text"}),
        "attempts": _col("integer", default={"kind": "value", "value": 0, "type": "integer"}),
        "retry_from": _col("timestamptz", default=_NOW),  # the retry period counts from here (reset by a replay)
        "next_attempt_at": _col("timestamptz", nullable=True, default=_NOW),
        "last_attempt_at": _col("timestamptz", nullable=True),
        "response_status": _col("integer", nullable=True),
        "last_error": _col("text", nullable=True),
        "created_at": _col("timestamptz", default=_NOW),
        "delivered_at": _col("timestamptz", nullable=True),
    },
    "id",
    unique={f"{DELIVERIES}_endpoint_event_key": ["endpoint_id", "event_id"]},
    indexes={
        f"{DELIVERIES}_due_idx": [["next_attempt_at", False]],
        f"{DELIVERIES}_endpoint_idx": [["endpoint_id", False], ["created_at", False]],
    },
)
MODELS = (ENDPOINTS_MODEL, DELIVERIES_MODEL)


def _sql(text: str) -> Compiled:
    """Fixed statements, written as SQL and compiled once (named ``:values`` become ``$n``)."""
    return compile_expression(sqlglot.parse_one(text, read="postgres"))


ENDPOINT_COLUMNS = "id, url, resources, actions, filter, description, enabled, failures, disabled_at, created_at"
DELIVERY_COLUMNS = (
    "id, endpoint_id, event_id, event_type, status, attempts, next_attempt_at, last_attempt_at, "
    "response_status, last_error, created_at, delivered_at"
)

INSERT_ENDPOINT = _sql(
    f"INSERT INTO {ENDPOINTS} (url, resources, actions, filter, description, secret, enabled) "
    f"VALUES (:url, :resources, :actions, :filter, :description, :secret, :enabled) RETURNING {ENDPOINT_COLUMNS}"
)
LIST_ENDPOINTS = _sql(f"SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINTS} ORDER BY created_at, id")
GET_ENDPOINT = _sql(f"SELECT {ENDPOINT_COLUMNS} FROM {ENDPOINTS} WHERE id = :id")
ENABLED_ENDPOINTS = _sql(f"SELECT id, resources, actions, filter, created_at FROM {ENDPOINTS} WHERE enabled")
UPDATE_ENDPOINT = _sql(
    f"UPDATE {ENDPOINTS} SET url = :url, resources = :resources, actions = :actions, filter = :filter, "
    "description = :description, enabled = :enabled, "
    "failures = CASE WHEN :enabled THEN 0 ELSE failures END, "
    "disabled_at = CASE WHEN :enabled THEN NULL ELSE coalesce(disabled_at, now()) END "
    f"WHERE id = :id RETURNING {ENDPOINT_COLUMNS}"
)
DELETE_ENDPOINT = _sql(f"DELETE FROM {ENDPOINTS} WHERE id = :id RETURNING id")
DELETE_ENDPOINT_DELIVERIES = _sql(f"DELETE FROM {DELIVERIES} WHERE endpoint_id = :id")

# Signing secrets, for `resource-engine keys rotate` (secrets.py); locked while they are rewritten.
ENDPOINTS_EXIST = _sql(f"SELECT to_regclass('{ENDPOINTS}') IS NOT NULL")
SECRETS = _sql(f"SELECT id, secret FROM {ENDPOINTS} ORDER BY id FOR UPDATE")
SET_SECRET = _sql(f"UPDATE {ENDPOINTS} SET secret = :secret WHERE id = :id")

ANY_ENABLED = _sql(f"SELECT EXISTS (SELECT 1 FROM {ENDPOINTS} WHERE enabled)")


def skip_forward(cursors: str, horizon: str) -> Compiled:
    """Move the cursor to "from now on" while no endpoint is enabled, in one statement: its snapshot
    either sees a new endpoint (and moves nothing) or comes before it, and then every event the
    endpoint could be due is written by a transaction at or above the horizon (events/tables.py)."""
    return _sql(
        f"UPDATE {cursors} SET tx = {horizon}, position = 0, updated_at = now() WHERE name = :name "
        f"AND NOT EXISTS (SELECT 1 FROM {ENDPOINTS} WHERE enabled)"
    )


ENQUEUE = _sql(
    f"INSERT INTO {DELIVERIES} (endpoint_id, event_id, event_type, body) "
    "VALUES (:endpoint, :event, :type, :body) ON CONFLICT (endpoint_id, event_id) DO NOTHING"
)
# Claim due deliveries of enabled endpoints: the lease keeps other workers off while this one tries.
CLAIM = _sql(
    f"UPDATE {DELIVERIES} AS d SET attempts = d.attempts + 1, last_attempt_at = now(), "
    "next_attempt_at = now() + make_interval(secs => :lease) "
    f"FROM {ENDPOINTS} AS e "
    f"WHERE d.id IN (SELECT id FROM {DELIVERIES} WHERE status = 'pending' AND next_attempt_at <= now() "
    f"AND endpoint_id IN (SELECT id FROM {ENDPOINTS} WHERE enabled) "
    "ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED) AND e.id = d.endpoint_id "
    "RETURNING d.id, d.endpoint_id, d.body, d.attempts, d.retry_from, e.url, e.secret"
)
SUCCEEDED = _sql(
    f"UPDATE {DELIVERIES} SET status = 'succeeded', response_status = :code, last_error = NULL, "
    "delivered_at = now(), next_attempt_at = NULL WHERE id = :id AND attempts = :attempts AND status = 'pending'"
)
RETRY = _sql(
    f"UPDATE {DELIVERIES} SET response_status = :code, last_error = :error, "
    "next_attempt_at = now() + make_interval(secs => :delay) "
    "WHERE id = :id AND attempts = :attempts AND status = 'pending'"
)
DEAD = _sql(
    f"UPDATE {DELIVERIES} SET status = 'failed', response_status = :code, last_error = :error, "
    "next_attempt_at = NULL WHERE id = :id AND attempts = :attempts AND status = 'pending'"
)
ENDPOINT_OK = _sql(f"UPDATE {ENDPOINTS} SET failures = 0 WHERE id = :id AND failures <> 0")
ENDPOINT_FAILED = _sql(
    f"UPDATE {ENDPOINTS} SET failures = failures + 1, "
    "enabled = enabled AND failures + 1 < :limit, "
    "disabled_at = CASE WHEN enabled AND failures + 1 >= :limit THEN now() ELSE disabled_at END "
    "WHERE id = :id RETURNING enabled, disabled_at = now() AS just_disabled"
)

LIST_DELIVERIES = _sql(
    f"SELECT {DELIVERY_COLUMNS} FROM {DELIVERIES} WHERE endpoint_id = :endpoint "
    "AND (CAST(:status AS TEXT) IS NULL OR status = :status) ORDER BY created_at DESC, id DESC LIMIT :limit"
)
REPLAY_ONE = _sql(
    f"UPDATE {DELIVERIES} SET status = 'pending', attempts = 0, retry_from = now(), next_attempt_at = now(), "
    f"delivered_at = NULL WHERE id = :id AND endpoint_id = :endpoint RETURNING {DELIVERY_COLUMNS}"
)
REPLAY_RANGE = _sql(
    f"UPDATE {DELIVERIES} SET status = 'pending', attempts = 0, retry_from = now(), next_attempt_at = now(), "
    "delivered_at = NULL WHERE endpoint_id = :endpoint AND created_at >= :since AND created_at < :until "
    "AND (CAST(:status AS TEXT) IS NULL OR status = :status) RETURNING id"
)
