"""Constrained types for the values every request carries, in one place.

Ids are INTEGER columns, so an id must be in the range both databases store (PostgreSQL's
``integer`` is 32-bit); seeds and offsets are 64-bit. A value outside its range is a 422
naming the field, on either database, before any query runs. Path and query parameters use
the same bounds through ``app.api.params``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**31 - 1
"""The largest id: PostgreSQL's ``integer`` (SQLite stores up to 2**63 - 1)."""
MAX_INT64 = 2**63 - 1
"""The largest seed or offset: a 64-bit signed integer, what both databases store."""

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Seed = Annotated[int, Field(ge=0, le=MAX_INT64)]
