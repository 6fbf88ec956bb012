"""The rules per message kind, as the console shows and edits them: the effective rule of each
kind, a draft checked and tried against the last archived messages (what each rule would do,
before and after), and an atomic, audited save into `wpec.toml`.

Why the draft is TOML: it is the `[rules]` section of `wpec.toml` exactly as an administrator
would write it by hand (README "Configuration"), checked by the same validation, so the file
and the console can never disagree on what a rule means.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.models import Model

DRY_RUN_MESSAGES = 50


class RuleView(Model):
    kind: str
    custom: bool  # written in wpec.toml (else the built-in default)
    does: str  # one line: what the rule does


class DryRunRow(Model):
    message_id: int
    kind: str
    subject: str | None = None
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


class RulesDraft(Model):
    text: str
    errors: list[str]
    rules: list[RuleView]
    dry_run: list[DryRunRow]


def _describe(rule: Any, default_path: str) -> str:
    parts = []
    if rule.save:
        parts.append(f"save {', '.join(str(getattr(w, 'value', w)) for w in rule.save)} "
                     f"→ {rule.path or default_path}")
    if rule.move_to:
        parts.append(f"move to {rule.move_to}")
    if rule.flag:
        parts.append(f"flag {' '.join(rule.flag)}")
    if rule.export:
        parts.append("export" if rule.export is True else f"export to {', '.join(rule.export)}")
    for action in rule.actions:
        parts.append(action.action)
    return "; ".join(parts) or "keep in the archive only"


def _views(config: Any) -> list[RuleView]:
    from wpec_invoicing.config import BUILTIN_KINDS, plugin_kinds
    from wpec_invoicing.rules.kinds import effective_rule

    return [RuleView(kind=k, custom=k in config.rules.kinds,
                     does=_describe(effective_rule(config, k), config.rules.path))
            for k in (*BUILTIN_KINDS, *plugin_kinds())]


def effective_rules(ctx: AppContext) -> list[RuleView]:
    """Every kind's rule in force now."""
    return _views(ctx.config)


def rules_text(ctx: AppContext) -> str:
    """The `[rules]` section of the configuration in force, as TOML."""
    import tomli_w

    source = ctx.config.source
    if source is not None and source.is_file():
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        if "rules" in data:
            return tomli_w.dumps({"rules": data["rules"]})
    return "[rules]\n\n[rules.kinds]\n"


def _candidate(ctx: AppContext, text: str) -> tuple[dict[str, Any], Any]:
    """(the whole file's data with the new rules, the resulting Config); InvalidRequest with
    the validation's own words when the draft is not usable."""
    from wpec_invoicing.config import config_from_dict
    from wpec_invoicing.errors import ConfigError

    try:
        draft = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"not valid TOML: {exc}") from None
    extra = sorted(k for k in draft if k != "rules")
    if extra:
        raise InvalidRequest(f"only [rules] can be edited here, not {', '.join(extra)}")
    source = ctx.config.source
    data: dict[str, Any] = {}
    if source is not None and source.is_file():
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    data["rules"] = draft.get("rules", {})
    base = source.parent if source is not None else Path.cwd()
    try:
        config = config_from_dict(data, base=base, source=str(source or "wpec.toml"))
    except ConfigError as exc:
        raise InvalidRequest(str(exc)) from None
    return data, config


def check_rules(ctx: AppContext, text: str, *, last: int = DRY_RUN_MESSAGES) -> RulesDraft:
    """Validate a draft and say, for each of the last `last` archived messages, what the
    rules in force do with it and what the draft would do."""
    from sqlalchemy import select

    from wpec_invoicing.rules.kinds import effective_rule
    from wpec_invoicing.store.models import Message

    try:
        _data, config = _candidate(ctx, text)
    except InvalidRequest as exc:
        return RulesDraft(text=text, errors=str(exc).splitlines(), rules=[], dry_run=[])
    with ctx.session() as s:
        messages = s.execute(select(Message.id, Message.kind, Message.subject)
                             .where(Message.kind.is_not(None))
                             .order_by(Message.id.desc()).limit(last)).all()
    rows = [DryRunRow(message_id=m.id, kind=m.kind, subject=m.subject,
                      before=_describe(effective_rule(ctx.config, m.kind),
                                       ctx.config.rules.path),
                      after=_describe(effective_rule(config, m.kind), config.rules.path))
            for m in messages]
    return RulesDraft(text=text, errors=[], rules=_views(config), dry_run=rows)


def save_rules(ctx: AppContext, text: str, *, actor: str,
               address: str | None = None) -> list[RuleView]:
    """Write the draft into `wpec.toml` atomically (a temporary file in the same folder,
    fsynced, then renamed over it; the previous file kept as `wpec.toml.bak`), audit it,
    and put it in force in this process. Comments in the file are not kept."""
    import shutil

    import tomli_w

    from wpec_invoicing.app.audit import record

    data, config = _candidate(ctx, text)
    source = ctx.config.source
    if source is None:
        raise InvalidRequest("this server runs on the built-in defaults (no wpec.toml): "
                             "there is no file to save the rules in")
    before = {v.kind: v.does for v in _views(ctx.config)}
    if source.exists():
        shutil.copy2(source, source.with_name(source.name + ".bak"))
    fd, tmp = tempfile.mkstemp(prefix=".wpec-", suffix=".toml", dir=source.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(tomli_w.dumps(data))
            fh.flush()
            os.fsync(fh.fileno())
        if source.exists():
            os.chmod(tmp, source.stat().st_mode & 0o777)
        os.replace(tmp, source)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    config = config.model_copy(update={"source": source, "searched": ctx.config.searched})
    ctx.config = config
    after = _views(config)
    changed = [v.kind for v in after if before.get(v.kind) != v.does]
    record(ctx, actor=actor, action="rules.save", target=str(source), result="ok",
           address=address, detail=f"changed: {', '.join(changed) or 'nothing'}")
    return after
