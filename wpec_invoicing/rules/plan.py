"""The rules decide: from what is known about a message and the config, a plan of actions.

`decide(facts, config) -> Plan` is a pure function: no store, no network, no disk (the
attachments' formats are sniffed from their bytes in memory). The ingestion pipeline carries
the plan out (`ingest/act.py`), so what a rule does can be tested without a store, and what
the pipeline does is the same for every rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from wpec_invoicing.rules.files import FormatVerdict, check_format, render_path
from wpec_invoicing.rules.kinds import effective_rule


@dataclass(frozen=True)
class Location:
    """One server copy of the message (the folder of an account it was fetched from)."""

    id: int
    account: str
    folder: str
    gone: bool = False


@dataclass(frozen=True)
class MessageFacts:
    """What the rules may look at: the message as recognised, verified and registered."""

    id: int
    sha256: str
    kind: str
    when: datetime  # when it was sent (else first seen): the date of the save path
    sender: str | None = None
    subject: str | None = None
    attachments: tuple[Any, ...] = ()  # objects with `name` and `data` (pec.Attachment)
    invoices: int = 0  # supplier invoices registered from it
    account: str | None = None  # the account being synced (None: import, retry without one)
    locations: tuple[Location, ...] = ()
    doctype: Any = None  # the plugin document type that recognised it


@dataclass(frozen=True)
class ServerAction:
    """A flag or move of one server copy, performed by the sync after commit."""

    action: str  # "flag" | "move"
    target: str
    location_id: int


@dataclass(frozen=True)
class SavedAhead:
    """The files a worker process saved for a message while parsing it ahead
    (`ingest.ahead`): the plan's folder and attachment verdicts it decided, for `kind` and
    the date `when`, and the paths written, in the order `ingest.save` writes them. Valid
    only while the message's own facts agree (`decide` checks)."""

    kind: str
    when: datetime
    folder: Path
    verdicts: tuple[FormatVerdict, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What to do with one message, in the order it is done."""

    kind: str
    folder: Path | None = None  # where saved files go (None: nothing is saved)
    save_header: bool = False
    save_body: bool = False
    save_attachments: bool = False
    # each attachment with its accepted-formats verdict (refused ones are quarantined)
    attachments: tuple[tuple[Any, FormatVerdict], ...] = ()
    run_doctype: bool = False  # the plugin document type's own `process`
    actions: tuple[tuple[int, dict[str, Any]], ...] = ()  # (index in the rule, spec)
    server_actions: tuple[ServerAction, ...] = ()
    export: tuple[str, ...] | None = None  # None: no export; (): every exporter
    saved: tuple[str, ...] | None = None  # the accepted files, already written ahead


def server_actions(rule: Any, locations: tuple[Location, ...] | list[Location],
                   account: str | None) -> tuple[ServerAction, ...]:
    """The rule's flag/move for each live copy in `account`. A copy already in the move
    target is not moved again (that would loop)."""
    if account is None:
        return ()
    planned: list[ServerAction] = []
    for loc in locations:
        if loc.account != account or loc.gone:
            continue
        if rule.flag:
            planned.append(ServerAction("flag", " ".join(rule.flag), loc.id))
        if rule.move_to and rule.move_to != loc.folder:
            planned.append(ServerAction("move", rule.move_to, loc.id))
    return tuple(planned)


def decide(facts: MessageFacts, config: Any, ahead: SavedAhead | None = None) -> Plan:
    """The plan of the kind's rule for this message (see the module docstring). `ahead`:
    what a worker saved while parsing the message ahead; its folder and verdicts are the
    ones this would compute (same rule, same facts), so they are taken as they are, and the
    plan says the accepted files are written. Ignored when the facts differ."""
    rule = effective_rule(config, facts.kind, facts.doctype)
    if ahead is not None and not (rule.save and ahead.kind == facts.kind
                                  and facts.doctype is None and ahead.when == facts.when
                                  and len(ahead.verdicts) == len(facts.attachments)):
        ahead = None
    folder = None
    if ahead is not None:
        folder = ahead.folder
    elif rule.save:
        folder = render_path(rule.path or config.rules.path, root=Path(config.rules.save_dir),
                             kind=facts.kind, date=facts.when, sender=facts.sender,
                             subject=facts.subject, message_id=facts.id, sha256=facts.sha256)
    save_attachments = "attachments" in rule.save
    attachments: tuple[tuple[Any, FormatVerdict], ...] = ()
    if save_attachments and ahead is not None:
        attachments = tuple(zip(facts.attachments, ahead.verdicts, strict=True))
    elif save_attachments:
        allowed = config.rules.accepted_extensions
        attachments = tuple((att, check_format(att.name, att.data, allowed))
                            for att in facts.attachments)
    export = None
    if rule.export and facts.invoices:
        export = tuple(rule.export) if isinstance(rule.export, list) else ()
    return Plan(
        kind=facts.kind,
        folder=folder,
        save_header="header" in rule.save,
        save_body="body" in rule.save,
        save_attachments=save_attachments,
        attachments=attachments,
        run_doctype=facts.doctype is not None and hasattr(facts.doctype, "process"),
        actions=tuple(enumerate(spec.model_dump() for spec in rule.actions)),
        server_actions=server_actions(rule, facts.locations, facts.account),
        export=export,
        saved=ahead.paths if ahead is not None else None,
    )
