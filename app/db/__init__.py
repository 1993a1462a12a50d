"""Database: models, engines and transactions, migrations, and the storage functions."""
