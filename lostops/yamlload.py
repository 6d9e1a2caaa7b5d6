"""Strict YAML loading for the files a user writes (the inventory, the secrets).

PyYAML silently keeps the last of two equal keys (for an inventory that would
hide a second `backend:` host), expands aliases (an alias bomb makes a small
file into a huge tree that later code walks), recurses once per nesting level
and lets a number, date or mapping key raise Python's own exceptions. This
loader turns every one of those into one :class:`YamlInputError` naming the
line and column; a value it quotes is cut (:func:`cut`), never echoed whole.
"""

from __future__ import annotations

from collections.abc import Hashable

import yaml

# Deeper than any file of this project needs (the inventory nests 5 levels).
MAX_DEPTH = 20
# The longest integer accepted (a port has 5 digits; Python refuses more than 4300).
MAX_INT_DIGITS = 20
# The most characters of an offending value shown in a message.
SHOWN = 100


def cut(value, limit: int = SHOWN) -> str:
    """repr(value), cut to `limit` characters with the full length said (never the whole of a long input)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value))} characters)"


class YamlInputError(ValueError):
    """One line: where in the file (line, column) and what is wrong; `path` is the key path when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None, path: str = ""):
        self.problem = problem
        self.line = line
        self.column = column
        self.path = path
        super().__init__(f"{self.where()}: {problem}" if line else problem)

    def where(self) -> str:
        if self.line is None:
            return ""
        return f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"


class DuplicateKeyError(YamlInputError):
    def __init__(self, path: str, line: int):
        super().__init__("duplicate key", line, path=path)
        self.args = (f"{path}: duplicate key (line {line})",)


class NotUtf8Error(ValueError):
    """The file's bytes are not UTF-8; names the byte offset and line."""

    def __init__(self, offset: int, line: int, byte: int):
        super().__init__(
            f"not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} (line {line}); save the file as UTF-8"
        )
        self.offset = offset
        self.line = line


def decode_utf8(raw: bytes) -> str:
    """Decode a YAML file's bytes strictly as UTF-8 (a leading BOM is allowed)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8Error(exc.start, raw.count(b"\n", 0, exc.start) + 1, raw[exc.start]) from None


def _at(mark, problem: str) -> YamlInputError:
    return YamlInputError(problem, mark.line + 1, mark.column + 1)


class _StrictLoader(yaml.SafeLoader):
    """No aliases, bounded nesting, bounded integers, Python's exceptions as YamlInputError."""

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _at(
                event.start_mark, f"aliases (*{cut(event.anchor, 20)[1:-1]}) are not allowed; write the value out"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _at(self.peek_event().start_mark, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except YamlInputError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            what = node.tag.rsplit(":", 1)[-1]
            shown = cut(node.value) if isinstance(node, yaml.ScalarNode) else f"this {what}"
            raise _at(node.start_mark, f"{shown} is not a valid {what} ({str(exc).splitlines()[0][:80]})") from None


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode):
    digits = sum(c.isdigit() for c in node.value)
    if digits > MAX_INT_DIGITS:
        raise _at(node.start_mark, f"a number of {digits} digits is too long (at most {MAX_INT_DIGITS})")
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, Hashable):
            raise _at(key_node.start_mark, "a mapping key must be a plain value, not a list or a mapping")
        if key in seen:
            raise DuplicateKeyError(str(key), key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _key_path(root: yaml.Node, line: int) -> str:
    """Dotted path of the mapping key that starts on `line` (1-based)."""

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                path = f"{prefix}.{k.value}" if prefix else str(k.value)
                if k.start_mark.line + 1 == line:
                    return path
                found = walk(v, path)
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                found = walk(item, f"{prefix}[{i}]")
                if found:
                    return found
        return None

    return walk(root, "") or "?"


def compose_strict(text: str) -> yaml.Node | None:
    """The node tree of `text` (no construction), with the loader's limits on aliases and nesting."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_node()
    except RecursionError:
        raise YamlInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def load_strict(text: str):
    """Parse YAML; DuplicateKeyError carries the full dotted key path, every other problem is a YamlInputError.

    yaml.YAMLError (a syntax error) passes through: its message is PyYAML's own, with its line.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except DuplicateKeyError as exc:
        # Compose (no construction) to recover where the duplicate sits.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raise DuplicateKeyError(_key_path(root, exc.line), exc.line) from None
    except RecursionError:
        raise YamlInputError(f"nested deeper than {MAX_DEPTH} levels") from None
