"""Helpers of the database tests: rows written with SQL, as an older revision's schema
holds them (before migration 0005 added ``identity_key``)."""

from __future__ import annotations

from sqlalchemy import Connection, text

LEGACY_ARCHITECTURE = {
    "id": 1,
    "space": "nb201",
    "settings": "{}",
    "key": "k",
    "spec": '"cell"',
    "params": 1,
}


def insert_legacy_rows(connection: Connection, *architectures: dict) -> None:
    """Architectures (each ``LEGACY_ARCHITECTURE`` with the columns given; one with id 1 when
    none is given) and data profile 1, in a database at revision 0004 or older."""
    for columns in architectures or ({},):
        connection.execute(
            text(
                "INSERT INTO architectures (id, space, settings, canonical_key, spec,"
                " is_degenerate, params, flops)"
                " VALUES (:id, :space, :settings, :key, :spec, false, :params, 1)"
            ),
            {**LEGACY_ARCHITECTURE, **columns},
        )
    connection.execute(
        text("INSERT INTO data_profiles (id, key, source, config) VALUES (1, 'p', 's', '{}')")
    )
