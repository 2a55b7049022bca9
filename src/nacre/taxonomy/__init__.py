"""The risk taxonomy: hazard categories with parents, severity tiers, per-user-type behaviour and guidelines."""

from nacre.taxonomy._model import (
    NONE,
    USER_TYPES,
    Category,
    SeverityTier,
    Taxonomy,
    UserType,
    build_taxonomy,
    load_taxonomy,
)

__all__ = [
    "NONE",
    "USER_TYPES",
    "Category",
    "SeverityTier",
    "Taxonomy",
    "UserType",
    "build_taxonomy",
    "load_taxonomy",
]
