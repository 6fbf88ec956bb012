"""The application context: the configuration and the store, opened once and passed first to
every use-case function, so a CLI run, an API request and a worker job share one door."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store stack is imported only by the commands that open it
    from sqlalchemy.orm import Session

    from wpec_invoicing.config import Config
    from wpec_invoicing.store.db import Store


class AppContext:
    """Configuration + store. The store (and SQLAlchemy) is opened lazily, on first use, so a
    command that never touches it never pays for it."""

    def __init__(self, config: Config, *, store: Store | None = None) -> None:
        self.config = config
        self._store = store

    @classmethod
    def load(cls, config_path: Path | str | None = None) -> AppContext:
        """The context of `wpec.toml` as looked up by `load_config` (--config, $WPEC_CONFIG,
        ./wpec.toml)."""
        from wpec_invoicing.config import load_config

        return cls(load_config(config_path))

    @cached_property
    def store(self) -> Store:
        if self._store is None:
            from wpec_invoicing.store.db import Store

            self._store = Store.from_config(self.config)
        return self._store

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self.store.session() as session:
            yield session

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
