"""The query parameters of the echo streams, validated by one Pydantic model."""

from __future__ import annotations

from typing import Annotated, Any

from django.http import QueryDict
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .conf import app_settings

__all__ = ["EchoQuery", "QueryError"]


class QueryError(ValueError):
    """Bad query parameters; `errors` names each one with what is wrong with it."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['parameter']}: {e['detail']}" for e in errors))
        self.errors = errors


class EchoQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    message: Annotated[str, Field(min_length=1)]
    interval: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 1.0
    limit: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

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
            errors.extend(
                {"parameter": str(error["loc"][0]), "detail": error["msg"]} for error in exc.errors()
            )
        if errors:
            raise QueryError(errors)
        return parsed
