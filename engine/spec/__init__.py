"""Layer 1: read resources.yaml and the schemas into an immutable Spec."""

from engine.spec.loader import SpecError, load_spec
from engine.spec.model import (
    ACTIONS,
    Field,
    History,
    Invite,
    Reference,
    Relation,
    Resource,
    Settings,
    SoftDelete,
    Spec,
)

__all__ = [
    "ACTIONS",
    "Field",
    "History",
    "Invite",
    "Reference",
    "Relation",
    "Resource",
    "Settings",
    "SoftDelete",
    "Spec",
    "SpecError",
    "load_spec",
]
