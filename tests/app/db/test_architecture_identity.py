"""One record per submitted architecture: two NB201 cells of one function class are two
records with their own parameter counts, one cell spelled two ways is one record, and
migration 0005 carries a database over without losing a row."""

from __future__ import annotations

import json

from db_support import insert_legacy_rows
from sqlalchemy import text

from app.db import migrations
from app.db.session import make_engine
from app.db.storage import Storage

# One function class (the output is the input), two cells: the second has a dead 1x1 conv.
FIRST = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
SECOND = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|"


def test_two_cells_of_one_function_class_are_two_records(storage, nb201):
    first, second = nb201(FIRST), nb201(SECOND)
    assert first.canonical_key == second.canonical_key
    assert first.params != second.params
    (a, created_a), (b, created_b) = storage.add_architectures([first, second])
    assert a != b and created_a and created_b
    stored = storage.get_architectures([a, b])
    assert json.loads(stored[a].spec) == FIRST and stored[a].params == first.params
    assert json.loads(stored[b].spec) == SECOND and stored[b].params == second.params
    assert storage.add_architectures([second, first]) == [(b, False), (a, False)]


def test_0005_keeps_every_row_and_what_refers_to_it(database_url, nb201):
    engine = make_engine(database_url)
    cell = nb201(FIRST)
    try:
        migrations.upgrade(engine, "0004_proxy_versions_checks")
        with engine.begin() as connection:
            insert_legacy_rows(
                connection,
                {
                    "id": 7,
                    "settings": cell.settings,
                    "key": cell.canonical_key,
                    "spec": cell.spec,
                    "params": cell.params,
                },
                {"id": 8, "space": "graph", "key": "g", "spec": "{}"},
            )
            connection.execute(
                text(
                    "INSERT INTO scores (architecture_id, proxy, proxy_version, data_profile_id,"
                    " seed, value, status, seconds, device) VALUES"
                    " (7, 'params', '1', 1, 0, 1.0, 'ok', 0.1, 'cpu')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO accuracies (architecture_id, dataset, metric, value, epochs,"
                    " source) VALUES (7, 'cifar10', 'test_accuracy', 90.0, 0, '')"
                )
            )
        migrations.upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, identity_key, canonical_key FROM architectures ORDER BY id")
            ).all()
            assert connection.scalar(text("SELECT count(*) FROM scores")) == 1
            assert connection.scalar(text("SELECT count(*) FROM accuracies")) == 1
        assert rows == [(7, cell.identity_key, cell.canonical_key), (8, "g", "g")]
        # The other cell of the class now gets a record of its own.
        (created_id, created), (same_id, again) = Storage(engine).add_architectures(
            [nb201(SECOND), cell]
        )
        assert created and created_id not in (7, 8) and (same_id, again) == (7, False)
    finally:
        engine.dispose()
