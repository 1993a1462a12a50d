"""The HTTP API: routers per resource, dependencies and error handling."""
