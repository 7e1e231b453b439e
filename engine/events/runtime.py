"""What the events feature keeps per app: settings, the hub, the dispatcher and compiled queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..sql.compiled import ShapeCache
from ..sql.queries import ResourceQueries
from .delivery import Delivery
from .dispatcher import Dispatcher
from .hub import Hub
from .settings import EventSettings
from .tables import EVENTS_RESOURCE


@dataclass
class EventsRuntime:
    settings: EventSettings
    hub: Hub = field(default_factory=Hub)
    cache: ShapeCache = field(default_factory=ShapeCache)  # visibility and replay statements
    history: ResourceQueries = field(default_factory=lambda: ResourceQueries(EVENTS_RESOURCE))
    delivery: Delivery | None = None  # from start-up on
    dispatcher: Dispatcher | None = None


EVENTS = web.AppKey("events", EventsRuntime)
