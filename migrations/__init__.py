"""Alembic migrations of the service's database (installed as ``app.migrations``)."""
