"""Opening the store the same way for every process (web, socket, clock, CLI)."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.settings import Settings, SettingsError
from store import db
from store.api import RoadmapStore
from store.roadmap_file import DEFAULT_ROADMAP, load

log = logging.getLogger(__name__)


def open_store(settings: Settings, *, migrate: bool | None = None, seed: bool = True) -> RoadmapStore:
    """Engine + schema check + first-run seed.

    SQLite is migrated on start (nothing to install, nothing to forget); PostgreSQL is migrated by the
    Procfile's `release:` step (`roadmap db upgrade`), so a web dyno never races another over DDL.
    """
    engine = db.make_engine(settings.database_url)
    if migrate is None:
        migrate = engine.dialect.name == "sqlite"
    if migrate:
        db.upgrade_if_behind(engine)
    elif db.current_revision(engine) is None:
        raise SettingsError("the database has no schema yet: run `roadmap db upgrade` (the Procfile release step)")
    store = RoadmapStore(engine)
    if seed and settings.seed:
        path = DEFAULT_ROADMAP if settings.seed == "builtin" else Path(settings.seed)
        if not path.exists():
            raise SettingsError(f"ROADMAP_SEED={settings.seed!r}: no such file")
        if store.transfer.is_empty() and store.transfer.seed_if_empty(load(path)):
            log.info("seeded the empty store from %s", path)
    return store
