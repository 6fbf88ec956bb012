"""`wpec trust add|add-list|list|remove`: the trust store the product manages.

Thin: parse arguments, call `app.trust`, print. `--json` output goes to stdout, human
messages to stderr; a refused list or a bad file is one line and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt

trust_app = typer.Typer(
    help="The trust store: PEC providers' and qualified CAs' certificates, trusted lists.",
    no_args_is_help=True, add_completion=False, rich_markup_mode=None,
)



def _ctx(config: str | None):
    from wpec_invoicing.app.context import AppContext

    return AppContext.load(config)


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def _report(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False))
        return
    for entry in result.added:
        output.report(f"added   {entry.fingerprint[:16]}  {entry.purpose:<13} {entry.subject}")
    for entry in result.already:
        output.report(f"already {entry.fingerprint[:16]}  {entry.purpose:<13} {entry.subject}")
    if result.territory is not None:
        output.report(f"trusted list {result.territory} #{result.sequence}: "
                      f"{result.services} services, {result.skipped} not used (withdrawn or "
                      "of another type)")
    for warning in result.warnings:
        _say(f"warning: {warning}")


@trust_app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="PEM file, or a folder of .pem/.crt/.cer files.",
                                         metavar="FILE|DIR")],
    purpose: Annotated[str, typer.Option(
        "--purpose", metavar="PURPOSE",
        help="pec-provider (receipts, envelopes) or qualified-ca (invoices).")]
    = "pec-provider",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Trust the certificates of a PEM file or folder."""
    from wpec_invoicing.app.trust import add_certificates

    with _ctx(config) as ctx:
        _report(add_certificates(ctx, path, purpose=purpose), as_json)


@trust_app.command("add-list")
def add_list(
    path: Annotated[Path, typer.Argument(help="An ETSI TS 119 612 trusted list (XML).",
                                         metavar="FILE")],
    pin: Annotated[Path, typer.Option(
        "--pin", metavar="FILE",
        help="The list operator's certificate (PEM): the list's signature must verify with "
             "it.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a trusted list against the pinned certificate and trust its qualified services."""
    from wpec_invoicing.app.trust import add_trusted_list

    with _ctx(config) as ctx:
        _report(add_trusted_list(ctx, path, pin=pin), as_json)


@trust_app.command("list")
def list_command(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every trusted certificate: subject, issuer, validity, source, purpose."""
    from wpec_invoicing.app.trust import list_trusted

    with _ctx(config) as ctx:
        entries = list_trusted(ctx)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False))
        return
    if not entries:
        _say("the trust store is empty: add certificates with `wpec trust add FILE.pem` or a "
             "trusted list with `wpec trust add-list FILE.xml --pin CERT.pem`")
        return
    for e in entries:
        print(f"{e.fingerprint[:16]}  {e.purpose:<13} {e.subject}")
        print(f"    issuer {e.issuer}; valid {e.not_before[:10]} to {e.not_after[:10]}")
        print(f"    source {e.source}" + (f"; service {e.service} ({e.status})"
                                          if e.service else ""))


@trust_app.command("remove")
def remove(
    selector: Annotated[str, typer.Argument(
        help="A fingerprint (at least 8 hex digits of its start) or text of the subject.",
        metavar="FINGERPRINT|SUBJECT")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop trusting the matching certificates."""
    from wpec_invoicing.app.trust import remove_trusted

    with _ctx(config) as ctx:
        removed = remove_trusted(ctx, selector)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in removed], ensure_ascii=False))
        return
    for e in removed:
        output.report(f"removed {e.fingerprint[:16]}  {e.subject}")
