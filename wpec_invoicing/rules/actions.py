"""The rule action registry: named actions a `[rules.kinds.<kind>]` table can list.

Why a registry: services above the rules (the outbox's `auto_reply`) and plugins add actions
without the rules engine importing them eagerly (imports point down only). An action module is
imported lazily the first time its name is used; at import it calls `register_action`.

An action is built once per rule from its TOML options, then called for each message with an
`ActionContext`, inside the processing transaction (so what it writes to the store commits
together with the message's classification, or not at all). It returns a short detail string
for the action log, or None. It must not talk to the IMAP server: moves and flags are the
engine's own, performed after commit.

    def factory(options: dict[str, Any]) -> Action      # raise ValueError for bad options
    def action(ctx: ActionContext) -> str | None
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Actions implemented by other areas, imported on first use (module registers the name).
LAZY_ACTION_MODULES: dict[str, str] = {
    "auto_reply": "wpec_invoicing.outbox.autoreply",
    "print": "wpec_invoicing.render.action",
}


@dataclass
class ActionContext:
    """What an action may look at: the store session, the stored message, what PEC made of it."""

    session: Any  # sqlalchemy.orm.Session
    config: Any  # wpec_invoicing.config.Config
    account: Any  # AccountConfig | None (None for imported files)
    message: Any  # wpec_invoicing.store.models.Message
    pec: Any  # wpec_invoicing.pec.PecMessage
    kind: str  # the rule kind: a PEC kind, "sdi-invoice", "sdi-notification" or a plugin's
    raw: bytes = field(repr=False, default=b"")


Action = Callable[[ActionContext], str | None]
ActionFactory = Callable[[dict[str, Any]], Action]

_REGISTRY: dict[str, ActionFactory] = {}


class UnknownAction(KeyError):
    """A rule names an action nobody registered."""


def register_action(name: str, factory: ActionFactory) -> None:
    """Make `name` usable in `actions = [{ action = "<name>", ... }]`."""
    _REGISTRY[name] = factory


def get_action_factory(name: str) -> ActionFactory:
    if name not in _REGISTRY and name in LAZY_ACTION_MODULES:
        importlib.import_module(LAZY_ACTION_MODULES[name])
    if name not in _REGISTRY:
        _load_entry_point_actions()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(set(_REGISTRY) | set(LAZY_ACTION_MODULES))) or "none"
        raise UnknownAction(f"unknown rule action {name!r} (known: {known})") from None


_EP_LOADED = False


def _load_entry_point_actions() -> None:
    """Plugins may register actions by entry point group `wpec_invoicing.actions`."""
    global _EP_LOADED
    if _EP_LOADED:
        return
    _EP_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group="wpec_invoicing.actions"):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = ep.load()


def build_action(spec: dict[str, Any]) -> Action:
    """An action from a rule's `{ action = "name", ...options }`."""
    options = {k: v for k, v in spec.items() if k != "action"}
    return get_action_factory(spec["action"])(options)
