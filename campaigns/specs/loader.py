"""Load a YAML spec safely, remembering the line of every key and item.

PyYAML's ``safe_load`` is not enough for specs people write by hand: it keeps
the last of two duplicate keys silently, it expands aliases (an alias bomb of a
few hundred bytes becomes gigabytes once walked), and it forgets where each
value came from. Here the file is size-checked and decoded strictly, aliases
and non-standard tags are refused, and the composed node tree is walked into
plain Python values together with a map from each field path to its line.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from campaigns.specs.problems import FieldPath, SpecError, SpecProblem, field_name

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null")}
_TIMESTAMP = f"{_TAG}timestamp"
_MAX_DEPTH = 40


@dataclass
class LoadedSpec:
    """A parsed spec: its values, the raw bytes (for the archive) and where each field is."""

    name: str
    raw: bytes
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest enclosing field that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def problem(self, path: FieldPath, message: str) -> SpecProblem:
        return SpecProblem(self.name, self.line_of(path), field_name(path), message)


def load_spec_file(path: str | Path) -> LoadedSpec:
    """Read and load a spec file; ``SpecError`` names the file and line of any problem."""
    path = Path(path)
    name = str(path)
    limit = settings.CM_SPEC_MAX_BYTES
    try:
        with path.open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as error:
        raise _fail(name, None, f"cannot read the file: {error.strerror}") from None
    return load_spec_bytes(raw, name)


def load_spec_bytes(raw: bytes, name: str) -> LoadedSpec:
    limit = settings.CM_SPEC_MAX_BYTES
    if len(raw) > limit:
        raise _fail(
            name, None, f"the file is larger than the {limit}-byte limit (CM_SPEC_MAX_BYTES)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        byte = raw[error.start : error.start + 1].hex()
        raise _fail(name, line, f"not valid UTF-8: byte 0x{byte} at offset {error.start}") from None
    _refuse_aliases(text, name)
    root = _compose(text, name)
    lines: dict[FieldPath, int] = {(): root.start_mark.line + 1}
    problems: list[SpecProblem] = []
    data = _Walker(name, lines, problems).value(root, ())
    if problems:
        raise SpecError(problems)
    return LoadedSpec(name=name, raw=raw, data=data, lines=lines)


def _fail(name: str, line: int | None, message: str) -> SpecError:
    return SpecError([SpecProblem(name, line, "", message)])


def _yaml_error(name: str, text: str, error: yaml.YAMLError) -> SpecError:
    if isinstance(error, yaml.reader.ReaderError):  # a control character: a position, no marks
        line = text[: error.position].count("\n") + 1
        char = error.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        message = f"unacceptable character {shown} ({error.reason})"
        return _fail(name, line, f"YAML syntax error: {message}")
    problem_mark = getattr(error, "problem_mark", None)
    context_mark = getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    if context and context_mark:
        context += f" started on line {context_mark.line + 1}"
    if "'\\t'" in problem:
        problem += " (YAML does not allow tabs in indentation)"
    # Past the last line the problem mark is no help: point at what was left open instead.
    at_end = problem_mark is not None and problem_mark.index >= len(text.rstrip())
    mark = context_mark if at_end and context_mark else problem_mark or context_mark
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return _fail(name, mark.line + 1 if mark else None, message)


def _refuse_aliases(text: str, name: str) -> None:
    # Checked on the event stream, before anything is composed, so a bomb costs nothing.
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise _fail(
                    name,
                    mark.line + 1 if mark else None,
                    f"YAML aliases (*{event.anchor}) are not allowed in specs; "
                    "use step_defaults or extends to share settings",
                )
    except yaml.YAMLError as error:
        raise _yaml_error(name, text, error) from None


def _compose(text: str, name: str) -> yaml.Node:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise _yaml_error(name, text, error) from None
    documents = [doc for doc in documents if doc is not None]
    if not documents:
        raise _fail(name, None, "the file holds no YAML document (it is empty)")
    if len(documents) > 1:
        second = documents[1].start_mark.line + 1
        raise _fail(name, second, "a spec file holds one YAML document; found a second one here")
    return documents[0]


def _shown(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


class _Walker:
    """Turns composed nodes into Python values, recording lines and collecting problems."""

    def __init__(self, name: str, lines: dict[FieldPath, int], problems: list[SpecProblem]):
        self.name, self.lines, self.problems = name, lines, problems
        self.constructor = yaml.SafeLoader("")

    def problem(self, node: yaml.Node, path: FieldPath, message: str) -> None:
        self.problems.append(
            SpecProblem(self.name, node.start_mark.line + 1, field_name(path), message)
        )

    def value(self, node: yaml.Node, path: FieldPath) -> Any:
        if len(path) > _MAX_DEPTH:
            self.problem(node, path, f"nested deeper than {_MAX_DEPTH} levels")
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return self.sequence(node, path)
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: FieldPath) -> Any:
        if node.tag == _TIMESTAMP:
            return node.value  # a date-looking string stays the string that was written
        if node.tag not in _SCALAR_TAGS:
            self.problem(
                node,
                path,
                f"YAML tag {_shown(node.tag)} is not allowed; specs use plain YAML values",
            )
            return None
        return self.constructor.construct_object(node)

    def sequence(self, node: yaml.SequenceNode, path: FieldPath) -> list[Any]:
        if node.tag != f"{_TAG}seq":
            self.problem(
                node,
                path,
                f"YAML tag {_shown(node.tag)} is not allowed; specs use plain YAML lists",
            )
        items = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = item.start_mark.line + 1
            items.append(self.value(item, (*path, index)))
        return items

    def mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != f"{_TAG}map":
            self.problem(
                node,
                path,
                f"YAML tag {_shown(node.tag)} is not allowed; specs use plain YAML mappings",
            )
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            if key in result:
                first = self.lines[(*path, key)]
                self.problem(key_node, (*path, key), f"duplicate key (first given on line {first})")
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, (*path, key))
        return result

    def key(self, node: yaml.Node, path: FieldPath) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != f"{_TAG}str":
            shown = node.value if isinstance(node, yaml.ScalarNode) else "a complex key"
            if isinstance(node, yaml.ScalarNode) and node.tag == f"{_TAG}merge":
                self.problem(node, path, "YAML merge keys (<<) are not allowed in specs")
            else:
                self.problem(node, path, f"keys must be plain strings, not {shown!r}")
            return None
        return node.value
