"""What every stage of the pipeline needs, built once per sync, import or retry.

Everything that can refuse (the trust store) is loaded here, before any message is touched:
a pipeline that cannot start changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wpec_invoicing.ingest.observers import Observer, Registered, as_observer, message_observers


def load_trust(config: Any) -> Any:
    """The configured trust (trust_store + the managed store, revocation per `[trust]`), or
    None when no certificate is trusted at all (see `wpec_invoicing.trust`)."""
    from wpec_invoicing.trust import load_trust as load

    return load(config)


@dataclass
class IngestContext:
    """The config, the store (with its archive), the trust store and the observers."""

    config: Any
    store: Any  # wpec_invoicing.store.db.Store
    trust: Any = None
    observers: Sequence[Observer] = ()
    # rule actions built once per (kind, index in the rule) from their options
    actions: dict[tuple[str, int], Any] = field(default_factory=dict)
    # True when `trust` is the config's own (`load_trust(config)`): a worker process can then
    # rebuild it and parse messages ahead (`ingest.ahead`); a caller's own trust stays here.
    trust_from_config: bool = False

    @classmethod
    def create(cls, config: Any, store: Any, *, trust: Any = None,
               observers: Sequence[Registered] | None = None
               ) -> IngestContext:
        """A context with the configured trust store and the registered observers (unless
        given: tests and embedding applications pass their own)."""
        return cls(config=config, store=store, trust_from_config=trust is None,
                   trust=trust if trust is not None else load_trust(config),
                   observers=tuple(message_observers() if observers is None
                                   else map(as_observer, observers)))

    @property
    def archive(self) -> Any:
        return self.store.archive
