"""The session writer's SQL: many rows in one `executemany`, values through the backend's adapters.

With thousands of streams the writer thread must not hold the GIL for long: one INSERT or UPDATE
run for a whole batch instead of one ORM call per row, and each value converted the cheapest way
that gives what Django's field preparation gives (a test holds the two equal).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.db import connections

__all__ = ["insert_many", "update_many"]


def _adapters(fields: list[Any], connection: Any) -> list[tuple[int, Any]]:
    """For each of `fields` (by position) whose values need converting, the conversion.

    `Field.get_db_prep_save` goes the generic way through a field's preparation (half of what
    the writer spent on a row, docs/performance.md); the recorder's values are
    already what those steps would make of them (`str`, `int`, aware `datetime`), so strings go as
    they are and numbers and datetimes straight to the backend's own adapter, the call the field
    would end with. A row's datetimes repeat (`last_seen_at` is its start or its end): each
    distinct one is converted once.
    """
    ops = connection.ops
    adapt_datetime = functools.lru_cache(maxsize=4)(ops.adapt_datetimefield_value)
    adapters: list[tuple[int, Any]] = []
    for index, field in enumerate(fields):
        kind = field.get_internal_type()
        if kind in ("CharField", "TextField"):
            continue
        if kind == "DateTimeField":
            adapters.append((index, adapt_datetime))
        elif kind in ("IntegerField", "BigIntegerField", "PositiveIntegerField", "PositiveBigIntegerField"):
            adapters.append((index, functools.partial(ops.adapt_integerfield_value, internal_type=kind)))
        else:
            adapters.append((index, functools.partial(field.get_db_prep_save, connection=connection)))
    return adapters


def _db_rows(fields: list[Any], rows: list[list[Any]], connection: Any) -> list[list[Any]]:
    adapters = _adapters(fields, connection)
    for values in rows:
        for index, adapt in adapters:
            values[index] = adapt(values[index])
    return rows


def insert_many(rows: list[dict[str, Any]]) -> None:
    """One `INSERT` run for many rows (executemany): cheaper than the ORM's per-object work."""
    from .models import StreamSession

    connection = connections[StreamSession.objects.db]
    meta: Any = StreamSession._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in rows[0]]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join("%s" for _ in fields)
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
    params = _db_rows(fields, [list(row.values()) for row in rows], connection)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_many(
    fields: list[str], rows: list[tuple[list[Any], uuid.UUID]], *, only_live: bool = False
) -> None:
    """`UPDATE ... SET fields WHERE id = ...` for many rows as one executemany, not one ORM update
    each: with thousands of streams the writer thread must not hold the GIL for long."""
    from .models import StreamSession

    connection = connections[StreamSession.objects.db]
    meta: Any = StreamSession._meta
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    if only_live:
        sql += f" AND {quote(meta.get_field('ended_at').column)} IS NULL"
    columns = [meta.get_field(name) for name in fields] + [meta.pk]
    params = _db_rows(columns, [[*values, pk] for values, pk in rows], connection)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
