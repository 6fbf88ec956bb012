"""Rules engine: malformed mail never stops a batch, observers fail alone, actions by name,
plugins by entry point (a real dist-info on sys.path, as an installed plugin has)."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.ingest.conftest import make_config, open_store
from wpec_invoicing.ingest import Pipeline, store_raw_message
from wpec_invoicing.rules import kinds
from wpec_invoicing.rules.actions import register_action
from wpec_invoicing.store.models import Message, RuleAction, Supplier

CALLS: list[str] = []


def failing_observer(session, stored_message, pec_message) -> None:
    session.add(Supplier(vat="IT00000000000", name="must be rolled back"))
    session.flush()
    raise RuntimeError("observer exploded")


def counting_observer(session, stored_message, pec_message) -> None:
    CALLS.append(pec_message.kind)


def _store_all(store, messages: list[bytes]) -> list[int]:
    ids = []
    with store.session() as s:
        for raw in messages:
            msg, _ = store_raw_message(s, store.archive, raw, source="import")
            ids.append(msg.id)
    return ids


def test_malformed_messages_and_failing_observers_never_stop_the_batch(
        tmp_path: Path, db_url: str, factory) -> None:
    config = make_config(tmp_path, db_url=db_url)
    store = open_store(config)
    CALLS.clear()
    try:
        garbage = [b"\x00\xff\xfe not a message", b"", b"\r\n\r\n", b"Subject: x\r\n" * 3]
        good = factory.mixed(4)
        ids = _store_all(store, garbage[:1] + good[:2] + garbage[1:] + good[2:])
        pipeline = Pipeline.for_config(config, store, observers=[
            ("failing", failing_observer), ("counting", counting_observer)])
        results = pipeline.process_many(ids)
        assert all(results)  # recorded, not crashed
        with store.session() as s:
            rows = {m.id: m for m in s.scalars(select(Message))}
            assert all(m.status == "processed" for m in rows.values())
            unreadable = [m for m in rows.values() if m.error and "unreadable" in m.error]
            assert len(unreadable) >= 2
            assert all("observer exploded" in (m.error or "") for m in rows.values())
            # the failing observer's writes were rolled back, the next observer still ran
            assert s.scalar(select(func.count()).select_from(Supplier)) == 0
        assert len(CALLS) == len(ids)
    finally:
        store.close()


def test_one_failure_in_a_group_is_recorded_alone_and_nothing_is_doubled(
        tmp_path: Path, db_url: str, factory) -> None:
    """A group's messages share one savepoint; when one of them fails (an observer raises
    on it, its blob is gone), the group is done again message by message: the failure is
    recorded on that message only, the others are processed once (their observers' writes
    are not doubled), and an observer only hears about the messages it `wants`."""
    config = make_config(tmp_path, db_url=db_url)
    store = open_store(config)
    try:
        raws = [*factory.mixed(7), factory.plain(subject="blob gone")]
        ids = _store_all(store, raws)
        victim, gone = ids[4], ids[-1]
        with store.session() as s:
            gone_sha = s.get(Message, gone).sha256
        store.archive.path(gone_sha).unlink()

        def picky(session, stored_message, pec_message) -> None:
            session.add(Supplier(vat=f"IT{stored_message.id:011d}", name="seen"))
            if stored_message.id == victim:
                session.flush()
                raise RuntimeError("picky exploded")

        def wants(pec_message) -> bool:
            return pec_message.kind.value != "non-pec"  # not the plain mail

        pipeline = Pipeline.for_config(config, store, observers=[("picky", picky, wants)])
        assert pipeline.process_many(ids) == [True] * 7 + [False]
        with store.session() as s:
            rows = {m.id: m for m in s.scalars(select(Message))}
            assert {i for i, m in rows.items() if m.error} == {victim, gone}
            assert "picky exploded" in rows[victim].error
            assert rows[victim].status == "processed"
            assert rows[gone].status == "error" and "blob" in rows[gone].error
            seen = set(s.scalars(select(Supplier.vat)))
        wanted = {ids[i] for i in range(7) if i != 6}  # the 7th of the mix is plain mail
        assert seen == {f"IT{i:011d}" for i in wanted - {victim}}
    finally:
        store.close()


def test_rule_actions_run_once_even_when_their_group_is_done_again(
        tmp_path: Path, factory) -> None:
    """Actions may reach outside the database: a message whose rule runs them is processed
    alone, so another message's failure in the same chunk never runs them a second time."""
    calls: list[int] = []

    def counter_factory(options):
        def action(ctx):
            calls.append(ctx.message.id)
            return "counted"
        return action

    register_action("test_count", counter_factory)
    config = make_config(tmp_path, extra={"rules": {"kinds": {"posta-certificata": {
        "actions": [{"action": "test_count"}]}}}})
    store = open_store(config)
    try:
        ids = _store_all(store, [factory.certified(subject=f"contratto {n}") for n in range(3)]
                         + factory.mixed(4))
        last = ids[-1]

        def failing_on_last(session, stored_message, pec_message) -> None:
            if stored_message.id == last:
                raise RuntimeError("no")

        results = Pipeline.for_config(config, store, observers=[
            ("failing", failing_on_last)]).process_many(ids)
        assert all(results)
        assert sorted(calls) == ids[:3]
        with store.session() as s:
            done = list(s.scalars(select(RuleAction.message_id).where(
                RuleAction.action == "test_count", RuleAction.status == "done")))
            assert sorted(done) == ids[:3]
            assert "no" in s.get(Message, last).error
    finally:
        store.close()


def test_actions_by_name_and_unknown_action_is_logged(tmp_path: Path, factory) -> None:
    seen = []

    def factory_fn(options):
        if "greeting" not in options:
            raise ValueError("greeting is required")

        def action(ctx):
            seen.append((ctx.kind, options["greeting"]))
            return f"said {options['greeting']}"
        return action

    register_action("test_greet", factory_fn)
    config = make_config(tmp_path, extra={"rules": {"kinds": {"posta-certificata": {
        "actions": [{"action": "test_greet", "greeting": "ciao"},
                    {"action": "no_such_action"}]}}}})
    store = open_store(config)
    try:
        ids = _store_all(store, [factory.certified(subject="hello")])
        Pipeline.for_config(config, store, observers=[]).process_many(ids)
        assert seen == [("posta-certificata", "ciao")]
        with store.session() as s:
            log = {a.action: a for a in s.scalars(select(RuleAction))}
        assert log["test_greet"].status == "done" and log["test_greet"].detail == "said ciao"
        assert log["no_such_action"].status == "failed"
        assert "unknown rule action" in log["no_such_action"].detail
    finally:
        store.close()


def test_custom_path_templates_place_the_saved_files(tmp_path: Path, factory) -> None:
    """A configured save-path template (global, and one per kind) decides the folders; every
    value is made a safe single name (a "/" in a subject never makes a sub-folder)."""
    config = make_config(tmp_path, extra={"rules": {
        "path": "{kind}/{date:%Y-%m}/{id}-{sha}",
        "kinds": {
            "posta-certificata": {"save": ["header", "attachments"],
                                  "path": "contratti/{sender}/{subject}"},
            "sdi-invoice": {"save": ["attachments"]},
        }}})
    store = open_store(config)
    try:
        ids = _store_all(store, [
            factory.certified(subject="Contratto 42/bis", attachments=[
                ("contratto.pdf", "application/pdf", b"%PDF-1.4\n%test\n")]),
            factory.sdi_invoice()])
        Pipeline.for_config(config, store, observers=[]).process_many(ids)
        root = config.rules.save_dir
        contract = root / "contratti" / "fornitore@pec.example.it" / "bis"
        assert (contract / "header.json").is_file()
        assert (contract / "attachments" / "contratto.pdf").is_file()
        with store.session() as s:
            sha = s.get(Message, ids[1]).sha256
        invoice_dirs = list((root / "sdi-invoice").glob(f"*/{ids[1]}-{sha[:12]}"))
        assert len(invoice_dirs) == 1, sorted(map(str, root.rglob("*")))
        assert re.fullmatch(r"\d{4}-\d{2}", invoice_dirs[0].parent.name)
        assert list((invoice_dirs[0] / "attachments").glob("*.xml"))
        files = [p for p in root.rglob("*") if p.is_file()]
        assert all(p.is_relative_to(root / "contratti") or p.is_relative_to(invoice_dirs[0])
                   for p in files), files
    finally:
        store.close()


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch):
    """An installed plugin: a module and a dist-info with entry points, on sys.path."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "wpec_test_plugin.py").write_text(textwrap.dedent('''
        import json
        from pathlib import Path

        class DeliveryNote:
            name = "delivery-note"
            default_rule = {"save": ["attachments"], "move_to": "DDT"}

            def recognize(self, pec, raw):
                return b"DDT-" in raw

            def process(self, ctx):
                return "delivery note noted"

        class FolderExporter:
            def __init__(self, cfg):
                self.folder = Path(cfg.path)

            def export(self, items):
                from wpec_invoicing.exporters.base import ExportOutcome
                self.folder.mkdir(parents=True, exist_ok=True)
                for item in items:
                    (self.folder / f"{item.invoice_id}.json").write_text(
                        json.dumps(item.record, default=str))
                return [ExportOutcome(i.invoice_id, True) for i in items]
    '''))
    dist = site / "wpec_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wpec-test-plugin\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[wpec_invoicing.doctypes]\ndelivery-note = wpec_test_plugin:DeliveryNote\n\n"
        "[wpec_invoicing.exporters]\nfolder = wpec_test_plugin:FolderExporter\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    monkeypatch.setattr(kinds, "_DOCTYPES", None)
    yield site
    sys.modules.pop("wpec_test_plugin", None)


def test_plugin_document_type_and_exporter_by_entry_point(plugin_site, tmp_path: Path,
                                                         factory) -> None:
    from wpec_invoicing.exporters.base import run_exports
    from wpec_invoicing.rules.passive import register_invoice

    config = make_config(tmp_path, extra={"exporters": [{"name": "mine", "type": "folder"}]})
    store = open_store(config)
    try:
        note = factory.certified(subject="DDT-4411", body="Documento di trasporto DDT-4411")
        ids = _store_all(store, [note])
        Pipeline.for_config(config, store, observers=[]).process_many(ids)
        with store.session() as s:
            msg = s.get(Message, ids[0])
            assert msg.kind == "delivery-note"
            actions = {a.action: a.detail for a in s.scalars(select(RuleAction))}
        assert actions["doctype:delivery-note"] == "delivery note noted"
        with store.session() as s:
            inv, _ = register_invoice(s, config, store.archive, factory.invoice_xml("P-1"),
                                      file_name="IT01234567897_P0001.xml", source="import")
            inv.status = "verified"
        assert run_exports(config, store)[0].exported == 1
        assert list((config.data_dir / "export" / "mine").glob("*.json"))
    finally:
        store.close()
