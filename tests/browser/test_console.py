"""The operators' console in a real browser, on the data of a `wpec demo` run, through real
clicks: log in, every page (axe-core clean, screenshots), approve an invoice waiting for
review, read a rejected invoice's NS codes, search by an amount typed the Italian way, a
hostile message stays inert, a viewer has no approve button, log out."""

import re

import pytest

from tests.browser.conftest import check_page, log_in

pytestmark = pytest.mark.browser


def test_every_page_is_accessible_and_photographed(page, site):
    page.goto("/login")
    check_page(page, "login")
    log_in(page, "ada")
    check_page(page, "cruscotto")
    for link, name in (("Fatture ricevute", "fatture-ricevute"),
                       ("Fatture emesse", "fatture-emesse"), ("Posta", "posta"),
                       ("Fornitori", "fornitori"), ("Caselle", "caselle"),
                       ("Avvisi e registro", "avvisi")):
        page.get_by_role("navigation", name="Sezioni").get_by_role("link", name=link).click()
        page.wait_for_load_state()
        assert page.locator("h1").first.inner_text() == link or name == "avvisi"
        check_page(page, name)
        first = page.locator("main table tbody a").first
        if name != "avvisi" and first.count():
            first.click()
            page.wait_for_load_state()
            check_page(page, f"{name}-dettaglio")
    page.goto("/registro")
    check_page(page, "registro")


def test_operator_finds_an_invoice_to_review_and_approves_it(page):
    log_in(page, "otto")
    page.get_by_role("link", name=re.compile("fatture da verificare")).click()
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 1
    assert "da verificare" in rows.first.inner_text()
    supplier = rows.first.locator("td").nth(1).inner_text().splitlines()[0]
    rows.first.locator("a").first.click()
    page.get_by_role("button", name="Approva", exact=True).click()
    assert page.get_by_role("status").inner_text() == "Fattura approvata."
    assert "verificata" in page.locator("main p .badge").first.inner_text()
    assert supplier in page.locator("h1").inner_text()
    page.goto("/registro")
    assert "invoice.approved" in page.locator("main table").inner_text()


def test_rejected_sent_invoice_shows_its_ns_codes(page):
    log_in(page, "vera")
    page.get_by_role("link", name=re.compile("scartate o non inviate")).click()
    rows = page.locator("main table tbody tr")
    assert rows.count() >= 1 and "scartata" in rows.first.inner_text()
    rows.first.locator("a").first.click()
    errors = page.get_by_role("region", name="Scartata dallo SdI: errori")
    codes = errors.locator("tbody tr td:first-child").all_inner_texts()
    descriptions = errors.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert codes and all(re.fullmatch(r"\d{5}", c.strip()) for c in codes), codes
    assert all(d.strip() for d in descriptions)
    assert "NS · notifica di scarto" in page.locator("ol.timeline").inner_text()


def test_search_by_an_amount_typed_the_italian_way(page):
    log_in(page, "vera")
    page.goto("/fatture-ricevute")
    first_total = page.locator("main table tbody tr td.amount").first.inner_text()
    typed = first_total.replace("€", "").replace("\xa0", "").strip()  # e.g. 73,81
    page.get_by_label("Cerca").fill(typed)
    page.get_by_role("button", name="Filtra").click()
    totals = page.locator("main table tbody tr td.amount").all_inner_texts()
    assert totals and all(t == first_total for t in totals)
    assert "Fatture con totale o imponibile pari a" in page.locator("main").inner_text()


def test_a_hostile_message_stays_inert(page, site):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, "vera")
    page.goto(f"/posta/{site.hostile_message_id}")
    assert "<script>" in page.locator("h1").inner_text()  # shown as text, not run
    frame = page.frame_locator("iframe.mail-body")
    assert "allegata" in frame.locator("body").inner_text()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__xss") is None
    assert frame.locator("script, img[onerror]").count() == 0
    assert not dialogs


def test_a_viewer_has_no_approve_button(page):
    log_in(page, "vera")
    page.goto("/fatture-ricevute?status=needs-review")
    assert page.locator("input[name=ids]").count() == 0
    page.goto("/fatture-ricevute")
    page.locator("main table tbody a").first.click()
    assert page.get_by_role("button", name="Approva").count() == 0
    response = page.request.post(page.url + "/decisione", form={"decision": "approved"})
    assert response.status == 403
    page.get_by_role("button", name="Vista dell'Agenzia delle Entrate").click()
    view = page.frame_locator("iframe.invoice-view[src$='style=ade']").locator("body")
    assert view.inner_text().strip()  # the agency's stylesheet, in the sandboxed frame


def test_english_and_log_out(page):
    log_in(page, "ada")
    page.get_by_role("button", name="English").click()
    assert page.locator("h1").inner_text() == "Dashboard"
    page.get_by_role("button", name="Italiano").click()
    page.get_by_role("button", name="Esci").click()
    page.wait_for_url("**/login")
    page.goto("/fatture-ricevute")
    assert "/login" in page.url


def test_upload_three_files_one_invalid_then_queue_the_valid_ones(page):
    from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    good = [(invoice_file_name("IT", "01234567890", p), write_invoice(sample_invoice(
        progressivo=p))) for p in ("C0001", "C0002")]
    broken_name = invoice_file_name("IT", "01234567890", "C0003")
    broken = good[0][1].replace(b"<Numero>", b"<Numerone>").replace(b"</Numero>",
                                                                   b"</Numerone>")
    log_in(page, "otto")
    nav = page.get_by_role("navigation", name="Sezioni")
    nav.get_by_role("link", name="Invio", exact=True).click()
    page.set_input_files("#files", files=[
        {"name": n, "mimeType": "application/xml", "buffer": d}
        for n, d in [*good, (broken_name, broken)]])
    page.get_by_role("button", name="Controlla i file").click()
    report = page.get_by_role("region", name="Esito dei controlli")
    rows = report.locator("tbody tr")
    assert rows.count() == 3
    verdicts = {rows.nth(i).locator("td").first.inner_text():
                rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)}
    assert verdicts[good[0][0]].strip() == "valida" and verdicts[good[1][0]].strip() == "valida"
    assert verdicts[broken_name].startswith("rifiutata") and "00200" in verdicts[broken_name]
    check_page(page, "invio-esito")
    page.get_by_role("button", name="Metti in coda per lo SdI i 2 file validi").click()
    done = page.locator("main ul").inner_text()
    assert done.count("in coda") == 2 and broken_name not in done


def test_admin_edits_a_rule_tries_it_and_saves_it(page, site):
    log_in(page, "ada")
    page.get_by_role("navigation", name="Sezioni").get_by_role("link", name="Regole").click()
    check_page(page, "regole")
    editor = page.get_by_label("La sezione [rules] di wpec.toml")
    draft = editor.input_value()
    editor.fill(draft + "\n[rules.kinds.non-pec]\nflag = ['\\Flagged'\n")  # broken on purpose
    page.get_by_role("button", name="Controlla e prova").click()
    assert "La bozza non si può usare" in page.get_by_role("alert").inner_text()
    assert "[rules.kinds.non-pec]" not in site.config.read_text()
    page.get_by_label("La sezione [rules] di wpec.toml").fill(
        draft + "\n[rules.kinds.non-pec]\nflag = ['\\Flagged']\n")
    page.get_by_role("button", name="Controlla e prova").click()
    dry = page.get_by_role("region", name="Prova sugli ultimi messaggi archiviati")
    assert "sarebbe trattato diversamente" in dry.inner_text() or \
        "sarebbero trattati diversamente" in dry.inner_text()
    assert "flag \\Flagged" in dry.locator("tbody strong").first.inner_text()
    check_page(page, "regole-prova")
    page.get_by_role("button", name="Salva queste regole").click()
    assert page.get_by_role("status").inner_text() == "Salvato."
    row = page.locator("main table tbody tr", has_text="non-pec")
    assert "scritta in wpec.toml" in row.inner_text() and "flag \\Flagged" in row.inner_text()
    assert "[rules.kinds.non-pec]" in site.config.read_text()
    page.goto("/registro")
    assert "rules.save" in page.locator("main table").inner_text()


def test_admin_manages_users_and_api_tokens(page, site):
    log_in(page, "ada")
    page.get_by_role("navigation", name="Sezioni").get_by_role("link", name="Utenti").click()
    check_page(page, "utenti")
    add = page.get_by_role("region", name="Aggiungi un utente")
    add.get_by_label("Nome utente").fill("bruno")
    add.get_by_label("Ruolo").select_option("operator")
    add.get_by_label("Password (almeno 10 caratteri)").fill("password di bruno")
    add.get_by_role("button", name="Aggiungi l'utente").click()
    assert page.get_by_role("status").inner_text() == "Salvato."
    row = page.locator("#user-bruno")
    assert row.get_by_label("Ruolo di bruno").input_value() == "operator"
    row.get_by_role("button", name="Disattiva bruno").click()
    assert "disattivato" in page.locator("#user-bruno").inner_text()
    page.get_by_role("link", name="Token API").click()
    page.get_by_label("Nome del token (senza spazi)").fill("gestionale")
    page.get_by_role("button", name="Crea il token").click()
    secret = page.get_by_label("Segreto di gestionale").input_value()
    assert secret.startswith("wpec_")
    check_page(page, "token")
    page.get_by_role("button", name="Revoca gestionale").click()
    assert "revocato" in page.locator("main table").inner_text()
    assert secret not in page.content()
    page.goto("/registro")
    log = page.locator("main table").inner_text()
    assert "user.disable" in log and "token.revoke" in log


def test_reading_works_with_javascript_off(browser, site):
    context = browser.new_context(java_script_enabled=False, base_url=site.url, locale="it-IT")
    page = context.new_page()
    try:
        log_in(page, "vera")  # a plain form post
        page.get_by_role("navigation", name="Sezioni").get_by_role(
            "link", name="Fatture ricevute").click()
        page.locator("main table tbody a").first.click()
        assert page.get_by_role("heading", name="Righe").count() == 1
        page.goto("/fatture-emesse")
        assert page.locator("main table tbody tr").count() >= 1
    finally:
        context.close()


def test_operator_resends_a_rejected_invoice_with_a_corrected_file(page):
    log_in(page, "otto")
    page.get_by_role("link", name=re.compile("scartate o non inviate")).click()
    page.locator("main table tbody tr").first.locator("a").first.click()
    rejected = page.url
    errors = page.get_by_role("region", name="Scartata dallo SdI: errori").inner_text()
    assert "00305" in errors  # the demo's customer VAT number fails its check digit
    sent = page.request.get(rejected + "/file")
    name = re.search(r'filename="([^"]+)"', sent.headers["content-disposition"]).group(1)
    name = re.sub(r"_\w{5}\.xml$", "_R0001.xml", name)  # a file name is never reused

    def upload(data: bytes) -> None:
        page.get_by_label("File corretto (XML o p7m)").set_input_files(
            files=[{"name": name, "mimeType": "application/xml", "buffer": data}])
        page.get_by_role("button", name="Invia il file corretto").click()

    upload(sent.body())  # the same mistake again: refused, and why
    assert "00305" in page.get_by_role("alert").inner_text()
    upload(sent.body().replace(b"<IdCodice>12345678901</IdCodice>",
                               b"<IdCodice>12345678903</IdCodice>"))
    assert page.get_by_role("status").inner_text() == "Il file corretto è in coda di invio."
    assert "Questo invio sostituisce" in page.locator("main").inner_text()
    assert page.url != rejected
