"""A mass mailing to 50 sandbox recipients, started from the console and watched to the end:
the sandbox provider is live, an outbox worker and a mailbox sync run beside the server (as
`wpec outbox run` and `wpec sync` would), and the page updates itself (htmx polling)."""

import io
import re
import threading
import time
import zipfile

import pytest

from tests.browser.conftest import AXE, PASSWORD, check_page, log_in, serving

pytestmark = pytest.mark.browser
RECIPIENTS = [f"cliente{i:02d}@pec.sandbox.test" for i in range(50)]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from wpec_invoicing.app import users
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.config import load_config
    from wpec_invoicing.mailbox.sync import Mailbox
    from wpec_invoicing.outbox.queue import Outbox
    from wpec_invoicing.sandbox import Sandbox
    from wpec_invoicing.sandbox.accounts import DEFAULT_USERS

    work = tmp_path_factory.mktemp("mailing")
    with Sandbox(work / "sandbox", users=[*DEFAULT_USERS, *RECIPIENTS]) as sb:
        path = sb.write_config(work / "wpec.toml", data_dir="wpec-data", limits={
            "messages_per_minute": 600, "burst": 20, "concurrency": 2, "max_message_mb": 30})
        config = load_config(path)
        with AppContext(config) as ctx:
            users.add_user(ctx, "otto", role="operator", password=PASSWORD)
        stop = threading.Event()

        def worker() -> None:  # the outbox and the sync, as the product's worker runs them
            with Outbox(config) as outbox:
                mailbox = Mailbox(config, config.account(), outbox.store)
                while not stop.is_set():
                    outbox.run(until_empty=True, max_seconds=5)
                    sb.wait_idle(2)
                    mailbox.sync()
                    time.sleep(0.3)

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        with serving(path) as url:
            yield url
        stop.set()
        thread.join(60)


def test_mass_mailing_to_50_recipients_reaches_the_end(browser, live):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="it-IT",
                                  timezone_id="Europe/Rome", base_url=live)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        log_in(page, "otto")
        page.get_by_role("navigation", name="Sezioni").get_by_role(
            "link", name="Invio massivo").click()
        check_page(page, "invio-massivo")
        csv = "id;pec;nome\n" + "".join(f"C{i:02d};{a};Cliente {i}\n"
                                        for i, a in enumerate(RECIPIENTS))
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            for i in range(3):  # three recipients get their own letter, same file name
                zf.writestr(f"C{i:02d}/lettera.pdf", f"%PDF-1.4 lettera {i}".encode())
        page.set_input_files("#recipients", files=[
            {"name": "destinatari.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
        page.get_by_label(re.compile("^Modello")).fill(
            "Subject: Comunicazione per {nome}\n\nGentile {nome},\nvi scriviamo per...")
        page.set_input_files("#attachments", files=[
            {"name": "allegati.zip", "mimeType": "application/zip",
             "buffer": archive.getvalue()}])
        page.get_by_role("button", name="Anteprima").click()
        previews = page.locator("main article")
        assert previews.count() == 5
        assert "Comunicazione per Cliente 0" in previews.first.inner_text()
        assert "lettera.pdf" in previews.first.locator("footer").inner_text()
        assert "nessuno" in previews.nth(4).locator("footer").inner_text()
        check_page(page, "invio-massivo-anteprima")
        page.get_by_role("button", name="Avvia: invia a 50 destinatari").click()
        page.wait_for_url(re.compile(r"/invio-massivo/\d+$"))
        # No reload from here on: htmx replaces the progress section until it is finished.
        page.get_by_text("Concluso.").wait_for(timeout=120_000)
        assert page.locator('[data-count="delivered"]').inner_text() == "50"
        assert page.locator('[data-count="failed"]').inner_text() == "0"
        states = page.locator("main table tbody tr td:nth-child(2)").all_inner_texts()
        assert len(states) == 50 and all(s.strip() == "consegnata" for s in states)
        check_page(page, "invio-massivo-avanzamento")
    finally:
        context.close()
