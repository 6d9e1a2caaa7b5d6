"""YAML loading that refuses duplicate keys.

PyYAML silently keeps the last of two equal keys; for an inventory that would
hide a second `backend:` host. This loader reports the key path and line.
"""

from __future__ import annotations

import yaml


class DuplicateKeyError(ValueError):
    def __init__(self, path: str, line: int):
        super().__init__(f"{path}: duplicate key (line {line})")
        self.path = path
        self.line = line


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


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise DuplicateKeyError(str(key), key_node.start_mark.line + 1)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


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


def load_strict(text: str):
    """Parse YAML, raising DuplicateKeyError with the full dotted key path."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except DuplicateKeyError as exc:
        # Compose (no construction) to recover where the duplicate sits.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raise DuplicateKeyError(_key_path(root, exc.line), exc.line) from None
