"""What every stage of the pipeline needs, built once per sync, import or retry.

Everything that can refuse (the trust store) is loaded here, before any message is touched:
a pipeline that cannot start changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wpec_invoicing.ingest.observers import MessageObserver, message_observers


def load_trust(config: Any) -> Any:
    """The configured trust store (PEM file or folder of PEM files), or None."""
    path = getattr(config, "trust_store", None)
    if path is None:
        return None
    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.errors import ConfigError
    from wpec_invoicing.inputs import read_file

    path = Path(path)
    try:
        if path.is_dir():
            data = b"\n".join(read_file(p) for p in sorted(path.iterdir())
                              if p.suffix.lower() in (".pem", ".crt", ".cer"))
        else:
            data = read_file(path)
        return TrustStore.from_pem(data)
    except OSError as exc:
        raise ConfigError(f"trust_store {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"trust_store {path}: no usable PEM certificate ({exc})") from None


@dataclass
class IngestContext:
    """The config, the store (with its archive), the trust store and the observers."""

    config: Any
    store: Any  # wpec_invoicing.store.db.Store
    trust: Any = None
    observers: Sequence[tuple[str, MessageObserver]] = ()
    # rule actions built once per (kind, index in the rule) from their options
    actions: dict[tuple[str, int], Any] = field(default_factory=dict)

    @classmethod
    def create(cls, config: Any, store: Any, *, trust: Any = None,
               observers: Sequence[tuple[str, MessageObserver]] | None = None
               ) -> IngestContext:
        """A context with the configured trust store and the registered observers (unless
        given: tests and embedding applications pass their own)."""
        return cls(config=config, store=store,
                   trust=trust if trust is not None else load_trust(config),
                   observers=tuple(message_observers() if observers is None else observers))

    @property
    def archive(self) -> Any:
        return self.store.archive
