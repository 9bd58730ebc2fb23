"""Reading a journey file's YAML: plain data and where each field stands.

YAML is read with the safe loader, but with YAML 1.2's plain scalars: in YAML 1.1
`no`, `on`, `yes` are booleans (a stage called `no` or a country code `NO` would
silently become False) and `21:00` is the integer 1260. Only true/false are booleans
here, times and dates stay strings, and only the core tags are read (`!!timestamp`,
`!!binary`, `!!set`, `!!python/…` are refused with their place).

A journey file is untrusted input in bounded time and memory: at most `MAX_FILE_BYTES`,
UTF-8, nesting at most `MAX_DEPTH` levels, and at most `MAX_NODES` values once its
aliases are expanded (a 2 KB file of nested aliases can otherwise expand to billions).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import JourneyError, Problem

Path_ = tuple[str | int, ...]
SourceMap = dict[Path_, tuple[int, int]]


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans, ints and floats, nesting at most
    MAX_DEPTH collections.

    The depth is refused where the scanner opens a collection: PyYAML's scanner slows
    down with every open bracket and its composer recurses once per level, so a check
    after parsing would come too late (and a guess from the raw text can be fooled by
    quotes and by `- - - x`, which nests without indenting).
    """

    def _deeper(self) -> None:
        if self.flow_level + len(self.indents) >= MAX_DEPTH:
            mark = self.get_mark()
            raise _TooDeep(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        self._deeper()
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if self.indent < column:
            self._deeper()
        return super().add_indent(column)


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in {
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        }
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000
_CORE = "tag:yaml.org,2002:"
# The tags each kind of node may carry (merge keys are gone once a mapping is flattened).
_TAGS: dict[type[yaml.Node], frozenset[str]] = {
    yaml.ScalarNode: frozenset(_CORE + name for name in ("str", "int", "float", "bool", "null")),
    yaml.SequenceNode: frozenset({_CORE + "seq"}),
    yaml.MappingNode: frozenset({_CORE + "map"}),
}


def _problem(message: str, file: str, mark: Any = None) -> JourneyError:
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return JourneyError([Problem(message, file, line, col)])


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_budget(root: yaml.Node, file: str) -> None:
    """Refuse a document that nests too deeply or expands to too many values.

    Aliases make the node graph a DAG (or, with a recursive alias, a cycle): sizes are
    counted once per node and memoised, so this walk is linear in the file.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    busy: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            busy.discard(key)
            if size[key] > MAX_NODES:
                raise _problem(
                    f"the file expands to more than {MAX_NODES:,} values "
                    "(aliases repeating aliases?)",
                    file,
                    node.start_mark,
                )
            if depth[key] > MAX_DEPTH:
                raise _problem(f"nesting deeper than {MAX_DEPTH} levels", file, node.start_mark)
            continue
        if key in size:
            continue
        if key in busy:
            raise _problem("an alias refers to the value that contains it", file, node.start_mark)
        busy.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def _check_tag(node: yaml.Node, loader: _Loader, file: str) -> None:
    """Only the core tags, on the kind of node they name, and an explicit `!!int`, `!!bool`,
    `!!float` or `!!null` only on a value that plainly is one (`!!bool x` would otherwise
    reach PyYAML's constructor, which fails with a KeyError)."""
    tag = node.tag.replace(_CORE, "!!")
    if node.tag not in _TAGS.get(type(node), frozenset()):
        raise _problem(
            f"the YAML tag '{tag}' is not supported here; write the value plainly",
            file,
            node.start_mark,
        )
    if isinstance(node, yaml.ScalarNode) and node.tag != _CORE + "str":
        plain = loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
        if plain != node.tag:
            value = node.value if len(node.value) <= 40 else node.value[:40] + "…"
            raise _problem(f"{value!r} is not a value of the tag '{tag}'", file, node.start_mark)


def _scalar(node: yaml.Node, loader: _Loader, file: str) -> Any:
    _check_tag(node, loader, file)
    try:
        value = loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise _problem(f"cannot read this value: {exc}", file, node.start_mark) from None
    # A "\ud800" escape makes half a character, which no later step can encode or show.
    if isinstance(value, str) and _SURROGATE.search(value):
        raise _problem(
            "a \\uD800-\\uDFFF escape is half a character; write the character itself "
            "or its \\U0001xxxx escape",
            file,
            node.start_mark,
        )
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _build(node: yaml.Node, path: Path_, spots: SourceMap, loader: _Loader, file: str) -> Any:
    spots[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    _check_tag(node, loader, file)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _problem("a key must be a plain name", file, key_node.start_mark)
            key = _scalar(key_node, loader, file)
            if key in out:
                line = key_node.start_mark.line + 1
                raise JourneyError(
                    [
                        Problem(
                            f"duplicate key '{key}'",
                            file,
                            line,
                            key_node.start_mark.column + 1,
                            (*path, key),
                        )
                    ]
                )
            out[key] = _build(value_node, (*path, key), spots, loader, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), spots, loader, file) for i, item in enumerate(node.value)]
    return _scalar(node, loader, file)


def read_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse YAML into plain data plus a map from field path to (line, column)."""
    spots: SourceMap = {}
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # checks every character at once
        node = loader.get_single_node()
        if node is None:
            raise JourneyError(
                [
                    Problem(
                        "the file is empty; a journey needs at least "
                        "'journey', 'version', 'name' and 'stages'",
                        file,
                        1,
                        1,
                    )
                ]
            )
        _check_budget(node, file)
        return _build(node, (), spots, loader, file), spots
    except _TooDeep as exc:
        raise _problem(str(exc.problem), file, exc.problem_mark) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise JourneyError(
            [Problem(f"YAML syntax error: {exc.problem or exc}", file, line, col)]
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. ESC
        line, col = _position(text, exc.position)
        raise JourneyError(
            [
                Problem(
                    f"the character {_shown(exc.character)} is not allowed in YAML", file, line, col
                )
            ]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _shown(character: Any) -> str:
    char = chr(character) if isinstance(character, int) else str(character)
    return repr(char)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def read_source(path: str | Path) -> str:
    """A journey file's text: at most MAX_FILE_BYTES, UTF-8, or JourneyError with the place."""
    path = Path(path)
    # Only regular files: a pipe or a link to /dev/zero named *.yaml would never end.
    if not stat.S_ISREG(path.stat().st_mode):
        raise JourneyError([Problem("not a regular file", str(path))])
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # the file may grow after it was looked at
    if len(data) > MAX_FILE_BYTES:
        size = max(path.stat().st_size, len(data))
        raise JourneyError(
            [Problem(f"the file has {size:,} bytes; at most {MAX_FILE_BYTES:,}", str(path))]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JourneyError(
            [Problem(f"the file is not UTF-8 (byte 0x{data[exc.start]:02x})", str(path), line, col)]
        ) from None
