"""What the events feature keeps per app: settings, the hub, the dispatcher and compiled queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from engine.features.events.delivery import Delivery
from engine.features.events.dispatcher import Dispatcher
from engine.features.events.hub import Hub
from engine.features.events.settings import EventSettings
from engine.features.events.tables import EVENTS_RESOURCE
from engine.sql.compiled import ShapeCache
from engine.sql.queries import ResourceQueries


@dataclass
class EventsRuntime:
    settings: EventSettings
    hub: Hub = field(default_factory=Hub)
    cache: ShapeCache = field(default_factory=ShapeCache)  # visibility and replay statements
    history: ResourceQueries = field(default_factory=lambda: ResourceQueries(EVENTS_RESOURCE))
    delivery: Delivery | None = None  # from start-up on
    dispatcher: Dispatcher | None = None


EVENTS = web.AppKey("events", EventsRuntime)
