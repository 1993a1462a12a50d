"""Renamed request fields: one name per concept, the old name still accepted for one release.

The contract names each concept once: ``architectures`` for a list of architectures,
``data_profile_id`` for a data profile, ``init_seed`` for the seed that initialises the
networks. A model that renamed a field lists ``old -> new`` in ``RENAMED``; the old name is
then still accepted (moved to the new one before validation) and the OpenAPI document shows
it as ``deprecated``. Giving both names is a 422 on the old one. Query parameters are renamed
the same way in ``app.api.params``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, GetJsonSchemaHandler, computed_field, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

DEPRECATED_UNTIL = "0.3.0"
"""The release that drops the deprecated names."""


DEPRECATED = {"deprecated": True}
"""The OpenAPI mark of a deprecated name (a response field kept beside its new name)."""


def deprecation_note(new: str) -> str:
    """The description of a deprecated name."""
    return f"deprecated name of `{new}`, accepted until release {DEPRECATED_UNTIL}"


class AcceptsRenamed(BaseModel):
    """A request model that still accepts the old names of its renamed fields."""

    RENAMED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _accept_old_names(cls, data: Any) -> Any:
        if not cls.RENAMED or not isinstance(data, dict):
            return data
        moved = dict(data)
        for old, new in cls.RENAMED.items():
            if old in moved and new not in moved:  # with both, the old is an extra field: 422
                moved[new] = moved.pop(old)
        return moved

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        if not cls.RENAMED:
            return schema
        target = handler.resolve_ref_schema(schema)
        properties = target["properties"]
        required = target.get("required", [])
        for old, new in cls.RENAMED.items():
            properties[old] = {
                **properties[new],
                "title": old.replace("_", " ").title(),
                "description": deprecation_note(new),
                **DEPRECATED,
            }
            if new in required:  # exactly one of the two names
                required.remove(new)
                one_of = {"oneOf": [{"required": [new]}, {"required": [old]}]}
                target.setdefault("allOf", []).append(one_of)
        if "required" in target and not required:
            del target["required"]
        return schema


class CarriesDeprecatedSeed(BaseModel):
    """An answer that still carries ``seed``, the old name of its ``init_seed`` field (which
    the answer declares itself, so that its fields keep their order)."""

    if TYPE_CHECKING:
        init_seed: int

    @computed_field(description=deprecation_note("init_seed"), json_schema_extra=DEPRECATED)
    @property
    def seed(self) -> int:
        return self.init_seed
