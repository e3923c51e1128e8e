"""The query parameters of the echo streams, validated by one Pydantic model."""

from __future__ import annotations

import re
from typing import Annotated, Any

from django.http import QueryDict
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .conf import app_settings

__all__ = ["EchoQuery", "QueryError"]

_PLAIN_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


class QueryError(ValueError):
    """Bad query parameters; `errors` names each one with what is wrong with it."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['parameter']}: {e['detail']}" for e in errors))
        self.errors = errors


class EchoQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # The length bound is a setting: the schema reads it when it is generated.
    message: Annotated[
        str,
        Field(
            min_length=1,
            json_schema_extra=lambda schema: schema.update(maxLength=app_settings.MESSAGE_MAX_LENGTH),
        ),
    ]
    interval: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 1.0
    limit: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    # /sse3 only: composite ids that name a position of the merged stream, so it can be resumed.
    resumable: bool = False

    @field_validator("interval", "limit", mode="before")
    @classmethod
    def _plain_number(cls, value: object) -> object:
        # Pydantic's lax parsing takes `1_000`, ` 1` and `1.0` for an int; a URL should not.
        if isinstance(value, str) and not _PLAIN_NUMBER.fullmatch(value):
            raise ValueError("not a plain decimal number")
        return value

    @field_validator("limit", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        if isinstance(value, str) and "." in value:
            raise ValueError("not a whole number")
        return value

    @field_validator("message")
    @classmethod
    def _not_too_long(cls, value: str) -> str:
        if len(value) > app_settings.MESSAGE_MAX_LENGTH:
            raise ValueError(f"at most {app_settings.MESSAGE_MAX_LENGTH} characters")
        return value

    @classmethod
    def from_query(cls, query: QueryDict) -> EchoQuery:
        values: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for name in cls.model_fields:
            given = query.getlist(name)
            if len(given) > 1:
                errors.append({"parameter": name, "detail": "given more than once"})
            elif given:
                values[name] = given[0]
        try:
            parsed = cls.model_validate(values)
        except ValidationError as exc:
            duplicated = {error["parameter"] for error in errors}
            for error in exc.errors():
                name = str(error["loc"][0])
                if name not in duplicated:
                    duplicated.add(name)  # one error per parameter, saying what it accepts
                    errors.append({"parameter": name, "detail": _detail(name, error)})
        if errors:
            raise QueryError(errors)
        return parsed


# What each parameter accepts, said whatever was wrong with the value given.
_ACCEPTS = {
    "interval": "must be a number of seconds from 0 to 3600, such as 5 or 0.5",
    "limit": "must be a whole number of events from 1 to 1000000",
    "resumable": "must be 1 or 0 (or true or false)",
}


def _detail(name: str, error: Any) -> str:
    if name in _ACCEPTS:
        return _ACCEPTS[name]
    if error["type"] == "missing":
        return "is required: the text to echo"
    if error["type"] == "string_too_short":
        return "must not be empty"
    return str(error["msg"]).removeprefix("Value error, ")
