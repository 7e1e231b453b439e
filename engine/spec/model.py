"""The immutable spec: what resources.yaml and the schemas say, resolved once at start-up.

Everything else (DDL, SQL, routes, validators, OpenAPI) is derived from these objects, so they
hold facts only, never behaviour that depends on a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

ACTIONS = ("list", "read", "create", "update", "delete")
ENGINE_FIELDS = ("created_at", "updated_at")
# Which `access` lists may govern each action, first declared wins (create has no row to match yet;
# attach is a write through one of the resource's relations).
ACCESS_MODES = {
    "list": ("read",),
    "read": ("read",),
    "update": ("update", "write"),
    "delete": ("delete", "write"),
    "attach": ("attach", "update", "write"),
}


@dataclass(frozen=True)
class Field:
    """One column, derived from a JSON Schema property."""

    name: str
    sql_type: str  # text | uuid | timestamptz | bigint | double precision | boolean | jsonb
    nullable: bool
    enum: tuple[Any, ...] | None = None
    default: Any = None  # a JSON value; None means no default
    has_default: bool = False
    generated: bool = False  # the database fills it (uuid primary keys, timestamps)
    read_only: bool = False  # clients may never send it
    engine_managed: bool = False  # created_at / updated_at
    write_only: bool = False  # JSON Schema writeOnly: stored encrypted, never read back (features/secrets)


@dataclass(frozen=True)
class Reference:
    column: str
    resource: str
    on_delete: str  # cascade | restrict | set null | no action
    # read: a write may set it only to a row its caller may read (anything else answers as a missing
    # row would, so a write never tells whether a hidden row exists); exists: to any existing row.
    check: str = "read"


@dataclass(frozen=True)
class Invite:
    """Links of a relation are invitations: created `pending`, they grant nothing until the invitee
    (the caller whose user id is the link's `other` column) accepts them, which makes them `active`."""

    status_field: str  # a field of the join resource whose enum holds "pending" and "active"
    parent_fields: tuple[str, ...] = ()  # parent columns the invitee sees (the team's name)


PENDING, ACTIVE = "pending", "active"


@dataclass(frozen=True)
class Relation:
    """Many-to-many through a join resource: `key` points at us, `other` at the far side."""

    name: str
    through: str
    key: str
    other: str
    target: str  # the resource `other` references
    attach: str = "any"  # any | read | update: the right a caller needs on the far-side row to attach it
    invite: Invite | None = None  # declared: links are invitations the invitee accepts
    owner_joins: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # a new row's owner's link
    keep_one: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # a link every row keeps

    @property
    def far_name(self) -> str:
        """The key under which a link carries its far-side row (`user_id` -> `user`)."""
        return self.other.removesuffix("_id")


@dataclass(frozen=True)
class History:
    """`history:` keep every version of each row; prune beyond `keep` versions or `max_age` seconds."""

    keep: int | None = None
    max_age: int | None = None

    @staticmethod
    def table_of(table: str) -> str:
        """The table holding a resource table's versions."""
        return f"{table}_history"


@dataclass(frozen=True)
class SoftDelete:
    """`soft_delete:` DELETE sets `deleted_at`; rows deleted `purge_after` seconds ago are removed."""

    purge_after: int | None = None
    column: str = "deleted_at"


@dataclass(frozen=True)
class IndexColumn:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Aggregates:
    """`aggregates:`: the fields a list may be grouped by, and those sum/avg/min/max may read."""

    group_by: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchField:
    """One searched field: its weight (A highest .. D), and for JSON a path to the strings searched."""

    field: str
    weight: str = "D"
    path: str | None = None  # a jsonpath such as `$[*].name` (JSON fields only)


@dataclass(frozen=True)
class Search:
    """`search:`: full-text search over these fields in this text-search configuration."""

    language: str
    fields: tuple[SearchField, ...]


@dataclass(frozen=True)
class Resource:
    name: str
    table: str
    schema_path: str
    schema: dict[str, Any] = field(repr=False, compare=False, hash=False)
    primary_key: str
    fields: dict[str, Field] = field(repr=False, compare=False, hash=False)
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[IndexColumn, ...], ...] = ()
    references: dict[str, Reference] = field(default_factory=dict, compare=False, hash=False)
    owner: str | None = None
    protected: tuple[str, ...] = ()
    roles_field: str | None = None  # users only: the array of role names each user holds (features/accounts)
    permissions: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    events: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, hash=False)
    relations: dict[str, Relation] = field(default_factory=dict, compare=False, hash=False)
    access: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # mode -> rules (spec.access)
    field_access: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    plugins: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    rate_limit: str | dict[str, str] | None = field(default=None, compare=False, hash=False)  # "20/minute", per action
    cache: dict[str, Any] | None = field(default=None, compare=False, hash=False)  # {"ttl": seconds}: opt-in read cache
    aggregates: Aggregates | None = field(default=None, compare=False, hash=False)  # group_by= / aggregate=
    search: Search | None = field(default=None, compare=False, hash=False)  # q= (full-text search)
    history: History | None = field(default=None, compare=False, hash=False)  # features/history
    soft_delete: SoftDelete | None = field(default=None, compare=False, hash=False)  # features/soft_delete
    # features/transitions: field -> state -> the states it may move to on update
    transitions: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict, compare=False, hash=False)
    distribute_by: str | None = field(default=None, compare=False, hash=False)  # a Citus plan (spec.distribution)

    @property
    def pk(self) -> Field:
        return self.fields[self.primary_key]

    def access_mode(self, action: str) -> str | None:
        """The `access` list that governs `action`, or None (the owner-only default applies)."""
        return next((mode for mode in ACCESS_MODES.get(action, ()) if mode in self.access), None)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The fields' names in order; worked out once (the spec does not change once loaded)."""
        return tuple(self.fields)


@dataclass(frozen=True)
class Settings:
    page_size: int = 20
    max_page_size: int = 100
    body_limit: int = 1024 * 1024
    pool_min_size: int = 1
    pool_max_size: int = 10
    statement_timeout_ms: int = 30_000
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Spec:
    path: str  # the resources.yaml file
    root: str  # its directory: schemas, plugins and migrations are relative to it
    resources: dict[str, Resource] = field(compare=False, hash=False)
    settings: Settings = Settings()
    disabled_plugins: tuple[str, ...] = ()
    plugin_settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # What the loader noticed but that does not stop the spec (an unknown schema keyword): `check`
    # prints these, `serve` logs them at start.
    warnings: tuple[str, ...] = field(default=(), compare=False, hash=False)
