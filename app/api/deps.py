"""Dependencies routes declare by name: settings, storage and the caller's role."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Request

from ..config import Settings
from ..db.storage import Storage
from .errors import ApiError


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="zero-cost", charset="UTF-8"'}
"""Asks a browser for credentials: the API key as the password, any user name."""


def _presented_key(request: Request) -> str | None:
    """The key of ``X-API-Key``, ``Authorization: Bearer KEY`` or ``Authorization: Basic``
    (the password, any user name: how a browser sends it for pages and their images)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return request.headers.get("x-api-key")


def _role(request: Request, settings: Settings) -> str:
    """The caller's role: 'write' when the service runs open."""
    roles = settings.key_roles()
    if not roles:
        return "write"
    presented = _presented_key(request)
    if not presented:
        raise ApiError(401, "missing_api_key", "this service needs an API key (X-API-Key)")
    role = None
    for key, key_role in roles.items():  # compare with every key, in constant time
        if hmac.compare_digest(presented.encode(), key.encode()):
            role = key_role
    if role is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid")
    return role


def require_read(request: Request, settings: SettingsDep) -> None:
    _role(request, settings)


def require_write(request: Request, settings: SettingsDep) -> None:
    if _role(request, settings) != "write":
        raise ApiError(403, "read_only_key", "this API key may only read")


def may_write(request: Request, settings: SettingsDep) -> bool:
    """Whether the caller may write (checks the key as ``require_read`` does)."""
    return _role(request, settings) == "write"


ReadAccess = Depends(require_read)
WriteAccess = Depends(require_write)
MayWrite = Annotated[bool, Depends(may_write)]
