"""The roadmap store: the schema (models), its migrations, and one small module per domain (see store/api.py)."""

from sqlmodel import SQLModel

# Stable constraint names, so Alembic migrations can refer to them on SQLite and PostgreSQL alike. Set here, before
# any module of the package defines a table (store.models, store.counters), whichever is imported first.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
