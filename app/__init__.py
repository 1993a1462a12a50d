"""The zero-cost scoring service: REST API, database, job queue and worker over ``zero_cost``."""
