"""Many rows at once, in time linear in the number of rows: what the poll's passes over ten
thousand workflows need, and Django's bulk methods do not give.

- ``bulk_update``: Django's writes ``SET f = CASE WHEN id = 1 THEN ... WHEN id = 2 THEN ...
  END`` for every field: the database tries the WHENs one by one for each row, so n rows cost
  n² comparisons (36 s for the counts of 10,000 polled workflows). Here one ``UPDATE ... FROM
  unnest(array, array, ...)``: an array per column, joined on the primary key, unchanged rows
  left alone (about 50 ms for the same 10,000).
- ``insert``: rows as tuples, no model instances, one ``INSERT ... SELECT FROM unnest(...)``,
  optionally an upsert or returning the new ids.
- ``field__any=ids``: 10,000 ids as one parameter rather than 10,000.

Arrays go as the text of a PostgreSQL array literal (``_array``). Other databases (SQLite,
the embedded default, for small installations) get Django's own methods.
"""

import json
from collections.abc import Sequence
from datetime import datetime

from django.db import connections, router
from django.db.models import Field, ForeignObject, Lookup, Model
from django.utils import timezone
from psycopg.types.json import Jsonb

FALLBACK_BATCH = 500


def bulk_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of every object in ``objs`` (all of one model) to the database, as
    ``Model.objects.bulk_update`` does; returns the number of rows written (on PostgreSQL,
    those whose values changed)."""
    if not objs:
        return 0
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_update(objs, fields, batch_size=FALLBACK_BATCH)
    meta = model._meta
    columns = [_concrete(meta.pk), *(_concrete(meta.get_field(name)) for name in fields)]
    quote = connection.ops.quote_name
    arrays = [
        _array([_prepared(field, getattr(obj, field.attname), connection) for obj in objs])
        for field, _ in columns
    ]
    unnest = ", ".join(f"%s::{field.db_type(connection)}[]" for field, _ in columns)
    names = ", ".join(quote(column) for _, column in columns)
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for _, column in columns[1:])
    pk = quote(columns[0][1])
    written = [quote(column) for _, column in columns[1:]]
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "
        f"FROM unnest({unnest}) AS v ({names}) WHERE t.{pk} = v.{pk} "
        # A row whose values are already these is not rewritten (no new row version, no WAL).
        f"AND ({', '.join(f't.{c}' for c in written)}) "
        f"IS DISTINCT FROM ({', '.join(f'v.{c}' for c in written)})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount


def _array(values: list) -> list | str:
    """An array parameter, as the text of a PostgreSQL array literal where every value is of
    a kind written here (numbers, text, times, JSON, nulls): psycopg's own list dumping runs
    a Python call per element, which for the poll's million values a pass cost more than the
    statements themselves. Anything else goes as a list for psycopg to dump. A list of
    nulls only must be text either way: psycopg gives it a type PostgreSQL will not cast."""
    kinds = set(map(type, values))
    if kinds <= _NUMBERS and kinds:  # ids and counts, most of a pass's values: at C speed
        return "{" + ",".join(map(repr, values)) + "}"
    if kinds == {str}:
        return "{" + ",".join([_quoted(value) for value in values]) + "}"
    try:
        return "{" + ",".join(map(_element, values)) + "}"
    except TypeError:
        return values


_NUMBERS = {int, float}


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _element(value) -> str:
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is int or kind is float:
        return repr(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is datetime:
        return value.isoformat()
    if isinstance(value, str):  # text, and the status choices (a str subclass)
        text = str.__str__(value)
    elif isinstance(value, Jsonb):
        text = json.dumps(value.obj)
    else:
        raise TypeError(kind)
    return _quoted(text)


def _concrete(field) -> tuple[Field, str]:
    """A field stored in a column of the model's table, with that column's name."""
    if not isinstance(field, Field) or not field.concrete or field.column is None:
        raise ValueError(f"{field} is not a column of its model's table")
    return field, field.column


# Values written as they are; anything else (JSON, dates, ...) goes through its field first.
_PLAIN = {int, float, str, bool, type(None), datetime}


def _prepared(field: Field, value, connection):
    if type(value) in _PLAIN or isinstance(value, str):  # str: the status choices too
        return value
    return field.get_db_prep_save(value, connection)


def insert(
    model: type[Model],
    fields: Sequence[str],
    rows: Sequence[Sequence],
    *,
    unique: Sequence[str] = (),
    returning: bool = False,
    same: dict[str, object] | None = None,
) -> list[int]:
    """Insert ``rows`` of ``model``, each a tuple of values for ``fields`` (field names or
    attnames, ``workflow_id``); every other column gets what Django would give it: its
    ``default``, now for ``auto_now``/``auto_now_add``, else NULL.

    ``same`` gives fields that have one value for every row (sent once, not once a row).
    With ``unique`` (the fields of a unique constraint), a row that is there already gets
    the other given fields instead, and only if they differ (an upsert that rewrites nothing
    unchanged). With ``returning``, the new rows' ids, in the order of ``rows``.

    No model instances are made: on PostgreSQL the rows go as one array per column through
    ``INSERT ... SELECT FROM unnest(...)``, a few hundred thousand rows a second.
    """
    meta = model._meta
    given = [_concrete(meta.get_field(name)) for name in fields]
    same = {
        _concrete(meta.get_field(name))[0].attname: value for name, value in (same or {}).items()
    }
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        everywhere = tuple(same.values())
        full = [(*row, *everywhere) for row in rows]
        return _insert_with_django(model, [*fields, *same], full, unique, returning)
    named = {field.attname for field, _ in given}
    rest = [
        _concrete(field)
        for field in meta.concrete_fields
        if field.attname not in named and not field.primary_key
    ]
    quote = connection.ops.quote_name
    now = timezone.now()
    arrays = [
        _array([_prepared(field, v, connection) for v in column])
        for (field, _), column in zip(given, zip(*rows, strict=True), strict=True)
    ]
    constants = [
        _prepared(field, same[field.attname], connection)
        if field.attname in same
        else _default(field, now, connection)
        for field, _ in rest
    ]
    columns = ", ".join(quote(column) for _, column in [*given, *rest])
    unnest = ", ".join(f"%s::{field.db_type(connection)}[]" for field, _ in given)
    values = ", ".join(["v.*", *(f"%s::{field.db_type(connection)}" for field, _ in rest)])
    sql = (
        f"INSERT INTO {quote(meta.db_table)} AS t ({columns}) "
        f"SELECT {values} FROM unnest({unnest}) AS v"
    )
    if unique:
        keys = {_concrete(meta.get_field(name))[1] for name in unique}
        changing = [quote(column) for _, column in given if column not in keys]
        sql += f" ON CONFLICT ({', '.join(quote(key) for key in sorted(keys))}) DO "
        sql += (
            "UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in changing)
            + f" WHERE ({', '.join(f't.{c}' for c in changing)}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{c}' for c in changing)})"
            if changing
            else "NOTHING"
        )
    if returning:
        sql += f" RETURNING {quote(_concrete(meta.pk)[1])}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constants, *arrays])  # in the order of the placeholders
        return [row[0] for row in cursor.fetchall()] if returning else []


def _default(field: Field, now: datetime, connection):
    """What Django writes into a column left out of an insert: now for ``auto_now`` and
    ``auto_now_add``, else the field's default ("" for text, None for the rest)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_db_prep_save(field.get_default(), connection)


def _insert_with_django(model, fields, rows, unique, returning) -> list[int]:
    objs = [model(**dict(zip(fields, row, strict=True))) for row in rows]
    options: dict = {}
    if unique:
        meta = model._meta
        keys = {meta.get_field(name) for name in unique}
        options = {
            "update_conflicts": True,
            "unique_fields": [field.name for field in keys],
            "update_fields": [
                meta.get_field(name).name for name in fields if meta.get_field(name) not in keys
            ],
        }
    model._default_manager.bulk_create(objs, batch_size=FALLBACK_BATCH, **options)
    return [obj.pk for obj in objs] if returning else []


class AnyOf(Lookup):
    """``field__any=ids``: the rows whose field is one of ``ids``, with every id in one
    parameter on PostgreSQL (``= ANY(array)``). ``__in`` with a list sends a parameter per
    value, and psycopg and Django spend about a microsecond on each: 10,000 ids a query,
    several queries a poll pass. Elsewhere it is ``IN``."""

    lookup_name = "any"
    prepare_rhs = False
    can_use_none_as_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = [value for value in self.rhs if value is not None]
        if connection.vendor == "postgresql":
            kind = self.lhs.output_field.db_type(connection)
            return f"{lhs} = ANY(%s::{kind}[])", [*params, _array(values)]
        if not values:
            return "1 = 0", params
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # a relation keeps lookups of its own: ``workflow__any``
