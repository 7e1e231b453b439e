"""Layer 1: read resources.yaml and the schemas into an immutable Spec."""

from engine.spec.loader import SpecError, load_spec
from engine.spec.model import ACTIONS, Field, Invite, Reference, Relation, Resource, Settings, Spec

__all__ = [
    "ACTIONS",
    "Field",
    "Invite",
    "Reference",
    "Relation",
    "Resource",
    "Settings",
    "Spec",
    "SpecError",
    "load_spec",
]
