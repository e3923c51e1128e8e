"""The session writer's SQL: many rows in one `executemany`, values through the backend's adapters.

With thousands of streams the writer thread must not hold the GIL for long: one INSERT or UPDATE
run for a whole batch instead of one ORM call per row, and each value converted the cheapest way
that gives what Django's field preparation gives (a test holds the two equal). On PostgreSQL new
rows go by `COPY ... FROM STDIN` (psycopg 3), a fraction of the CPU of even a pipelined
`executemany` (docs/performance.md). The backend internals this needs (the driver's cursor, its
adapters, its error wrapping) are read through `echo.sse.glue.django_internals`.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.db import connections

from echo.sse.glue.django_internals import (
    database_errors,
    datetime_adapter,
    driver_cursor,
    integer_adapter,
    name_quoter,
)

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
    adapt_datetime = functools.lru_cache(maxsize=4)(datetime_adapter(connection))
    adapt_integer = integer_adapter(connection)
    adapters: list[tuple[int, Any]] = []
    for index, field in enumerate(fields):
        kind = field.get_internal_type()
        if kind in ("CharField", "TextField"):
            continue
        if kind == "DateTimeField":
            adapters.append((index, adapt_datetime))
        elif kind in ("IntegerField", "BigIntegerField", "PositiveIntegerField", "PositiveBigIntegerField"):
            adapters.append((index, functools.partial(adapt_integer, internal_type=kind)))
        else:
            adapters.append((index, functools.partial(field.get_db_prep_save, connection=connection)))
    return adapters


def _db_rows(fields: list[Any], rows: list[list[Any]], connection: Any) -> list[list[Any]]:
    adapters = _adapters(fields, connection)
    for values in rows:
        for index, adapt in adapters:
            values[index] = adapt(values[index])
    return rows


def _psycopg3_cursor(vendor: str, raw: Any) -> bool:
    """Is `raw` psycopg 3's cursor, which writes `COPY`? (psycopg2's has no `copy`: it takes the
    executemany.)"""
    if vendor != "postgresql":
        return False
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(raw, psycopg.Cursor)


def insert_many(rows: list[dict[str, Any]], *, skip_existing: bool = False) -> None:
    """Insert many rows at once: `COPY` on PostgreSQL, one `INSERT` run (executemany) elsewhere.

    `skip_existing` is for a batch written again after an error that may have come after its
    commit (the connection lost while it was acknowledged): rows already there are left alone,
    so a retry never duplicates nor fails on one.
    """
    from .models import StreamSession

    connection = connections[StreamSession.objects.db]
    meta: Any = StreamSession._meta
    quote = name_quoter(connection)
    fields = [meta.get_field(name) for name in rows[0]]
    columns = ", ".join(quote(field.column) for field in fields)
    params = _db_rows(fields, [list(row.values()) for row in rows], connection)
    with connection.cursor() as cursor:
        raw = driver_cursor(cursor)  # Django's wrapper has no COPY
        if _psycopg3_cursor(connection.vendor, raw) and not skip_existing:
            # The driver's errors as Django's, as through the wrapper: the writer tells a refused
            # row by them.
            with (
                database_errors(connection),
                raw.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
            ):
                for values in params:
                    copy.write_row(values)
            return
        placeholders = ", ".join("%s" for _ in fields)
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
        if skip_existing:
            sql += f" ON CONFLICT ({quote(meta.pk.column)}) DO NOTHING"
        cursor.executemany(sql, params)


def update_many(
    fields: list[str], rows: list[tuple[list[Any], uuid.UUID]], *, only_live: bool = False
) -> None:
    """`UPDATE ... SET fields WHERE id = ...` for many rows as one executemany, not one ORM update
    each: with thousands of streams the writer thread must not hold the GIL for long."""
    from .models import StreamSession

    connection = connections[StreamSession.objects.db]
    meta: Any = StreamSession._meta
    quote = name_quoter(connection)
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    if only_live:
        sql += f" AND {quote(meta.get_field('ended_at').column)} IS NULL"
    columns = [meta.get_field(name) for name in fields] + [meta.pk]
    params = _db_rows(columns, [[*values, pk] for values, pk in rows], connection)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
