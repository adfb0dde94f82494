"""The nesting limit of JSON that motia accepts from clients and workers (`MAX_JSON_DEPTH` levels).

msgspec decodes nested arrays and objects recursively: a document nested ~1,000 levels deep raises
`RecursionError` in the middle of a request. Documents are checked before they are decoded, cheaply: one that
has no more than `MAX_JSON_DEPTH` brackets in all cannot be nested deeper, so only bracket-heavy documents are
scanned.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

import msgspec

MAX_JSON_DEPTH = 256

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1 in, -1 out
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')
_decoder = msgspec.json.Decoder()


def too_deep(document: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON `document` (valid or not) nests arrays and objects more than `limit` levels deep."""
    if isinstance(document, str):
        if document.count("[") + document.count("{") <= limit:
            return False
        data = document.encode()
    else:
        data = document
        if data.count(b"[") + data.count(b"{") <= limit:
            return False
    # Outside string literals only: with escaped backslashes and quotes gone, every other `"` opens or closes one.
    unescaped = bytes(data).replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    steps = outside.translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(memoryview(steps).cast("b")), default=0) > limit


def decode_shallow(document: bytes | str) -> Any:
    """`document` decoded; one nested too deep to decode is reduced to its top-level string fields (enough to
    tell what it is and answer it). Raises `msgspec.DecodeError` when it is not JSON."""
    if not too_deep(document):
        return _decoder.decode(document)
    data = document.encode() if isinstance(document, str) else bytes(document)
    fields: dict[str, Any] = {}
    depth, key, expect_key = 0, None, False
    for match in _TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            expect_key = depth == 1 and token == b"{"
        elif token in (b"]", b"}"):
            depth -= 1
        elif depth != 1:
            continue
        elif token == b",":
            key, expect_key = None, True
        elif expect_key:
            key, expect_key = _decoder.decode(token), False
        elif key is not None:
            fields[key], key = _decoder.decode(token), None
    return fields
