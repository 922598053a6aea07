"""Run the schema over loaded data, turning pydantic's errors into located spec problems."""

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from campaigns.specs.loader import LoadedSpec
from campaigns.specs.problems import FieldPath, SpecProblem, field_name
from campaigns.specs.schema import GroupSpec


def validate[M: BaseModel](
    model: type[M],
    data: Any,
    loaded: LoadedSpec,
    prefix: FieldPath = (),
    origin: dict[str, FieldPath] | None = None,
) -> tuple[M | None, list[SpecProblem]]:
    """Validate ``data`` (found at ``prefix`` in the file) against ``model``.

    ``origin`` maps a top-level key to where it was really written, for data
    merged from several places (a campaign that extends another).
    """
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "nothing"
        return None, [loaded.problem(prefix, f"expected a mapping of fields, got {kind}")]
    try:
        return model.model_validate(data), []
    except ValidationError as error:
        return None, [_problem(model, data, loaded, prefix, origin, e) for e in error.errors()]


def _problem(model, data, loaded, prefix, origin, error) -> SpecProblem:
    loc = _data_loc(data, error["loc"], error["type"] == "missing")
    where = (origin or {}).get(str(loc[0]), prefix) if loc else prefix
    path = (*where, *loc)
    return SpecProblem(
        loaded.name, loaded.line_of(path), field_name(path), _message(model, loc, error)
    )


def _data_loc(data: Any, loc: tuple, missing: bool) -> FieldPath:
    # Drop the segments pydantic adds for union branches ("str", "int", ...), which are
    # not in the file: keep a segment only if it exists there, or it is the last one of
    # a "missing" error (the field that should be there).
    kept: list[str | int] = []
    current = data
    for index, segment in enumerate(loc):
        last = index == len(loc) - 1
        if (isinstance(current, dict) and segment in current) or (
            isinstance(current, list) and isinstance(segment, int) and segment < len(current)
        ):
            current = current[segment]
        elif not (last and missing):
            continue
        kept.append(segment)
    return tuple(kept)


def _message(model: type[BaseModel], loc: FieldPath, error: dict) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        if loc[-1] == "bps" and _is_group(_model_at(model, loc[:-1])):
            return "groups cannot override the BPS template: every workflow of a step shares it"
        return f"unknown field {loc[-1]!r}{hint}"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    shown = repr(error.get("input"))
    return f"{message} (got {shown[:60]}{'...' if len(shown) > 60 else ''})"


def _allowed_keys(model: type[BaseModel], loc: FieldPath) -> list[str]:
    current = _model_at(model, loc)
    return sorted(current.model_fields) if current is not None else []


def _is_group(model: type[BaseModel] | None) -> bool:
    return model is not None and issubclass(model, GroupSpec)


def _model_at(model: type[BaseModel], loc: FieldPath) -> type[BaseModel] | None:
    """The model that validates the mapping at ``loc``, if one does."""
    current: Any = model
    for segment in loc:
        if isinstance(segment, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(segment))
        if field is None:
            return None
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``list[X]``, ``X | None`` or ``Annotated[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if inner is not None:
                return inner
    return None
