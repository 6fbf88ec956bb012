"""The console's invoice search: words anywhere (lines, data as read), amounts, totals."""

from datetime import date
from decimal import Decimal

from wpec_invoicing.app import console, received
from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice


def _import(ctx, *progressivi: str) -> None:
    files = [(invoice_file_name("IT", "01234567890", p), write_invoice(sample_invoice(
        progressivo=p, lines=2, on=date(2026, 1, int(p))))) for p in progressivi]
    assert received.import_files(ctx, files).imported == len(progressivi)


def test_words_find_line_descriptions_and_the_totals_follow_the_selection(ctx):
    _import(ctx, "00001", "00002")
    everything = console.search_received(ctx)
    assert everything.totals.invoices == 2
    first = received.get_received(ctx, everything.page.items[0].id)
    word = first.lines[0].description.split()[0]
    found = console.search_received(ctx, text=word.upper())  # case does not matter
    assert first.id in [i.id for i in found.page.items]
    assert found.totals.total == sum(i.total for i in found.page.items)
    assert console.search_received(ctx, text="nessuna parola così").totals.invoices == 0
    by_vat = console.search_received(ctx, text=first.supplier_vat[2:])
    assert by_vat.totals.invoices == 2
    assert [g.vat for g in by_vat.suppliers] == [first.supplier_vat]


def test_amount_finds_total_or_taxable(ctx):
    _import(ctx, "00003")
    inv = received.get_received(ctx, console.search_received(ctx).page.items[0].id)
    assert console.search_received(ctx, amount=inv.total).totals.invoices == 1
    assert console.search_received(ctx, amount=inv.taxable).totals.invoices == 1
    assert console.search_received(ctx, amount=inv.total + Decimal("0.01")).totals.invoices == 0


def test_newest_first_with_a_cursor(ctx):
    _import(ctx, "00004", "00005", "00006")
    first = console.search_received(ctx, limit=2)
    rest = console.search_received(ctx, limit=2, cursor=first.page.next_cursor)
    ids = [i.id for i in first.page.items + rest.page.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert rest.page.next_cursor is None


def test_the_figures_of_a_selection_follow_an_arrival_and_a_decision_at_once(ctx):
    """The selection's totals are reused while paging, never past a change an operator
    makes or an arrival."""
    _import(ctx, "00001", "00002")
    to_review = [i.id for i in console.search_received(ctx).page.items]
    for invoice_id in to_review:  # the sample supplier is unknown: both wait for review
        assert received.get_received(ctx, invoice_id).status == "needs-review"
    before = console.search_received(ctx, status="needs-review")
    assert before.totals.invoices == 2
    received.decide(ctx, to_review[0], "approved")
    after = console.search_received(ctx, status="needs-review")
    assert after.totals.invoices == 1
    assert after.totals.total == before.totals.total - received.get_received(
        ctx, to_review[0]).total
    _import(ctx, "00003")
    assert console.search_received(ctx).totals.invoices == 3
