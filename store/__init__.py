"""The roadmap store: schema, migrations and the one API that reads and writes it."""

from store.api import RoadmapStore, StoreError, StoreUnavailable

__all__ = ["RoadmapStore", "StoreError", "StoreUnavailable"]
