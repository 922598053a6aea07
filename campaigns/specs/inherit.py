"""Inheritance: campaign ``extends``, and the BPS template a step inherits from its campaign."""

from typing import Any

from campaigns.specs.loader import LoadedSpec
from campaigns.specs.problems import FieldPath, SpecProblem

# Keys merged key by key when a campaign extends another; every other key is replaced.
MERGED_KEYS = ("bps", "collections", "step_defaults")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``; nested mappings merge, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_extends(
    campaigns: list[Any], loaded: LoadedSpec, prefix: FieldPath
) -> tuple[list[tuple[dict[str, Any], dict[str, FieldPath]] | None], list[SpecProblem]]:
    """Apply ``extends`` between the campaigns of one production file.

    Returns, per campaign, its merged fields and where each top-level field was
    written (so an error in an inherited field points at the base campaign's
    line), or None for a campaign whose ``extends`` cannot be resolved.
    """
    by_name = {
        c.get("name"): index
        for index, c in enumerate(campaigns)
        if isinstance(c, dict) and isinstance(c.get("name"), str)
    }
    problems: list[SpecProblem] = []
    resolved: list[tuple[dict[str, Any], dict[str, FieldPath]] | None] = []
    for index in range(len(campaigns)):
        result = _resolve_one(index, campaigns, by_name, loaded, prefix, problems, ())
        resolved.append(result)
    return resolved, problems


def _resolve_one(index, campaigns, by_name, loaded, prefix, problems, chain):
    raw = campaigns[index]
    here = (*prefix, index)
    if not isinstance(raw, dict):
        return ({}, {}) if raw is None else (raw, {})
    origin = {key: here for key in raw}
    base_name = raw.get("extends")
    if base_name is None:
        return raw, origin
    if base_name not in by_name:
        if not chain:
            problems.append(
                loaded.problem((*here, "extends"), f"no campaign named {base_name!r} in this file")
            )
        return None
    if by_name[base_name] in (*chain, index):
        # Reported once per campaign on the cycle: when the walk from it comes back to it.
        top = chain[0] if chain else index
        if by_name[base_name] == top:
            names = [str(campaigns[i].get("name")) for i in (*chain, index)]
            cycle = " -> ".join([*names, base_name])
            problems.append(
                loaded.problem(
                    (*prefix, top, "extends"), f"campaigns extend each other in a cycle ({cycle})"
                )
            )
        return None
    base = _resolve_one(
        by_name[base_name], campaigns, by_name, loaded, prefix, problems, (*chain, index)
    )
    if base is None:
        return None
    base_fields, base_origin = base
    merged = {k: v for k, v in base_fields.items() if k not in ("name", "extends", "description")}
    merged_origin = {k: v for k, v in base_origin.items() if k in merged}
    for key, value in raw.items():
        if key == "step_defaults" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_step_defaults(merged[key], value)
        elif key in MERGED_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
        merged_origin[key] = here
    return merged, merged_origin


def _merge_step_defaults(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    # The BPS template merges key by key; a split rule is one whole rule, replaced.
    merged = {**base, **override}
    if isinstance(base.get("bps"), dict) and isinstance(override.get("bps"), dict):
        merged["bps"] = deep_merge(base["bps"], override["bps"])
    return merged
