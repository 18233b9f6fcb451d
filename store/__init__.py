"""The roadmap store: the schema (models), its migrations, and one small module per domain (see store/api.py)."""
