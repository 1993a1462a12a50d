"""Domain errors: what a service function raises when it cannot serve a request.

They know nothing of HTTP. Each carries a stable machine-readable ``code``, a ``message``
for people that names the field at fault, and that ``field`` (a dotted path into the
request) when one is. The API maps each kind to its status in one place
(``app.api.errors``); the worker records the message.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service cannot serve."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


class InvalidRequest(ServiceError):
    """The request is well-formed but asks for something that cannot be done."""


class TooLarge(ServiceError):
    """The request is over a configured size limit."""


class Conflict(ServiceError):
    """The request conflicts with the state of the resource it names."""


class Forbidden(ServiceError):
    """The caller may not do what the request needs (a read-only key that would write)."""


class NotFound(ServiceError):
    """The request names a resource that does not exist."""

    def __init__(self, what: str, identifier: object) -> None:
        super().__init__("not_found", f"{what} {identifier} does not exist")
