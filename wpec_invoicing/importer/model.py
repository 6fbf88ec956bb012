"""What the importer finds (entries) and what it reports (the summary)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Entry:
    """One thing found in the inputs (a file, or a member of an archive)."""

    label: str  # what the user sees: path, or path!member for archive members
    name: str  # the base name
    load: Callable[[], bytes]


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    skipped: int = 0
    refused: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, label: str, result: str, reason: str | None = None, **extra: Any) -> None:
        counter = {"imported": "imported", "duplicate": "duplicates", "invalid": "invalid",
                   "skipped": "skipped", "refused": "refused"}[result]
        setattr(self, counter, getattr(self, counter) + 1)
        item = {"input": label, "result": result}
        if reason:
            item["reason"] = reason
        item.update({k: v for k, v in extra.items() if v is not None})
        self.items.append(item)

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates,
                "invalid": self.invalid, "skipped": self.skipped, "refused": self.refused,
                "items": self.items}


