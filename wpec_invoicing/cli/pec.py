"""`wpec pec inspect FILE... [--json] [--trust PEM_OR_DIR]`: what each message is.

Thin: read the files and the trust store here (the formats layer does no I/O), call
`pec.inspect`, print. Exit 0 when every file could be read, 2 when any could not.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import pec_app
from wpec_invoicing.cli.paths import MESSAGE_SUFFIXES, load_trust_store, walk

# The fields of a record for a file that could not be read at all (same keys, empty values).
_EMPTY: dict[str, Any] = {
    "kind": None, "subject": None, "original_subject": None, "message_id": None,
    "ref_message_id": None, "identificativo": None, "sender": None, "recipients": [],
    "delivered_to": None, "error": None, "error_detail": None, "provider": None,
    "timestamp": None, "receipt_type": None, "signature": None, "attachments": [],
    "sdi": None, "problems": [],
}


def _human(record: dict[str, Any]) -> str:
    sig = record.get("signature") or {}
    if not sig.get("present"):
        sig_text = "unsigned"
    elif sig.get("intact"):
        trusted = {True: "trusted", False: "NOT trusted", None: "trust unknown"}[
            sig.get("trusted")
        ]
        sig_text = f"signature intact, {trusted} ({sig.get('signer')})"
        if sig.get("revocation"):  # issue 16: CRL/OCSP status of the signer's certificate
            sig_text += f", revocation {sig['revocation']['status']}"
    else:
        sig_text = f"signature BROKEN: {sig.get('reason')}"
    lines = [f"{record['file']}: {record['kind']}  [{sig_text}]"]
    for label, key in (
        ("subject", "original_subject"),
        ("from", "sender"),
        ("delivered to", "delivered_to"),
        ("refers to", "ref_message_id"),
        ("identificativo", "identificativo"),
        ("provider", "provider"),
        ("time", "timestamp"),
        ("error", "error_detail"),
    ):
        if record.get(key):
            lines.append(f"  {label}: {record[key]}")
    if record.get("error") not in (None, "nessuno"):
        lines.append(f"  errore: {record['error']}")
    for attachment in record.get("attachments") or []:
        lines.append(
            f"  file: {attachment['name']} ({attachment['content_type']}, "
            f"{attachment['size']} bytes)"
        )
    sdi = record.get("sdi")
    if sdi:
        lines.append(f"  SdI: {sdi['kind']} {sdi.get('file_name') or ''} "
                     f"(IdentificativoSdI {sdi.get('identificativo_sdi')})")
        if sdi.get("authentic"):
            lines.append(f"    authentic: {sdi.get('authentic_reason')}")
        else:
            lines.append(f"    NOT authentic: {sdi.get('authentic_reason')}")
        for err in sdi.get("errors") or []:
            lines.append(f"    {err['code']}: {err['description']}")
    for problem in record.get("problems") or []:
        lines.append(f"  note: {problem}")
    return "\n".join(lines)


@pec_app.command("inspect")
def inspect_command(
    files: Annotated[list[str], typer.Argument(
        metavar="FILE|DIR...", show_default=False,
        help="Raw messages (.eml), or folders of them (searched with their subfolders).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file, one per line (stdout).")
    ] = False,
    trust: Annotated[
        str | None,
        typer.Option("--trust", metavar="FILE|DIR", show_default=False,
                     help="PEM file, or folder of .pem/.crt/.cer files, of the providers' "
                          "certificates or their CAs."),
    ] = None,
    revocation: Annotated[
        str | None,
        typer.Option("--revocation", metavar="POLICY",
                     help="CRL/OCSP check of the signer: hard-fail, soft-fail or off "
                          "(default: [trust] revocation_pec of the config, soft-fail)."),
    ] = None,
) -> None:
    """Say what each message is: kind, certification data, signature, attachments, SdI."""
    from wpec_invoicing.inputs import read_file
    from wpec_invoicing.pec import inspect
    from wpec_invoicing.trust import cli_trust

    store = cli_trust(load_trust_store(trust) if trust is not None else None, policy=revocation)
    failed = seen = 0
    write = sys.stdout.write
    for path in walk(files, MESSAGE_SUFFIXES):
        seen += 1
        reason: str | None = None
        try:
            raw = read_file(path)
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            if isinstance(exc, FileNotFoundError):
                reason = "cannot read: no such file or folder"
            raw = None
        if raw is not None and not raw.strip():
            reason = "empty file: not a message"
        record: dict[str, Any] = {"file": path}
        if reason is None and raw is not None:
            message = inspect(raw, trust=store)
            record.update(message.to_json())
            if not message.readable:
                reason = next(p for p in message.problems if p.startswith("unreadable:"))
                reason = reason.removeprefix("unreadable: ")
        record["read_error"] = reason
        if reason is not None:
            failed += 1
            output.error(f"{path}: {reason}")
            for key, empty in _EMPTY.items():
                record.setdefault(key, empty)
        if as_json:
            write(json.dumps(record, ensure_ascii=False) + "\n")
        elif reason is None:
            write(_human(record) + "\n")
    sys.stdout.flush()
    if not seen:
        from wpec_invoicing.errors import InputError

        raise InputError(f"no messages (.eml) in {', '.join(files)}")
    if failed:
        raise typer.Exit(output.EXIT_USAGE)
