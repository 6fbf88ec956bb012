"""JSON columns written from text already serialised elsewhere.

Why: a message's details (the PEC engine's view of it, ≈ 1.5 KB of JSON) are serialised
where the message is parsed, in a worker process during a big sync. Handing them over as a
dict meant pickling the dict, unpickling it and serialising it again for the column: three
passes over it on the classifying thread's side. A `JsonDoc` is the dict (readers see a
plain mapping) that remembers the text it was read from; the engines' JSON serializer
(`dumps`, set by `store.db.make_engine`) writes that text as is. Mutating a `JsonDoc` in
place would leave the text stale, so nothing does: a changed value is a new dict, assigned.
"""

from __future__ import annotations

import json
from typing import Any


class JsonDoc(dict):
    """A dict parsed from `text`, which is what gets stored for it."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(json.loads(text))
        self.text = text


def dumps(value: Any) -> str:
    """The JSON columns' serializer: a `JsonDoc`'s own text, else `json.dumps`."""
    if type(value) is JsonDoc:
        return value.text
    return json.dumps(value)
