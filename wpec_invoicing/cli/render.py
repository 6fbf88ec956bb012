"""`wpec invoice render`, `wpec pec render`, `wpec invoices print`: readable copies.

Contract: the document goes to stdout (one input, no `--out`) or into the folder `--out DIR`
(`-o`), named after the input; diagnostics go to stderr as
`wpec: error: ...`. Exit 0 when everything was rendered (an invalid invoice renders, with its
band, and a warning on stderr), 1 when something was refused (`--strict`) or failed to print,
2 when an input cannot be read at all. `--json`: one JSON object per input per line.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from wpec_invoicing.cli.groups import invoice_app, invoices_app, pec_app
from wpec_invoicing.cli.options import ConfigOpt
from wpec_invoicing.errors import InputError

MAX_FILE_BYTES = 50 * 1024 * 1024
FormatOpt = Annotated[str, typer.Option("--format", "-f", metavar="HTML|PDF",
                                        help="html or pdf.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", "-o", metavar="DIR", show_default=False,
    help="Folder to write into (created if needed); default: stdout (one input only).")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="One JSON object per input per line on stdout (needs --out); on failure "
                   "a JSON error object.")]



def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _read(path: Path) -> bytes:
    if str(path) == "-":  # standard input
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"standard input: larger than {MAX_FILE_BYTES} bytes")
        return data
    from wpec_invoicing.inputs import read_file

    try:
        return read_file(path, max_bytes=MAX_FILE_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _expand(paths: list[Path]) -> tuple[list[Path], bool]:
    """Files as given, folders as the invoice files directly inside; and whether a folder
    was given (then -o is a folder even for one file)."""
    out: list[Path] = []
    folder = False
    for p in paths:
        if str(p) != "-" and p.is_dir():
            folder = True
            out.extend(sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")
                              and c.name.lower().endswith((".xml", ".p7m"))))
        else:
            out.append(p)
    return out, folder


def _target(output: Path | None, rendered_name: str) -> Path | None:
    if output is None:
        return None
    if output.exists() and not output.is_dir():
        raise InputError(f"--out {output}: not a folder")
    output.mkdir(parents=True, exist_ok=True)
    return output / rendered_name


def _write(target: Path | None, content: bytes) -> None:
    if target is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    from wpec_invoicing.rules.files import write_file

    write_file(target.parent, target.name, content)


def _json_line(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("html", "pdf"):
        raise InputError(f"--format must be html or pdf, not {fmt!r}")
    return fmt


@invoice_app.command("render")
def invoice_render(
    paths: Annotated[list[Path], typer.Argument(
        help="Invoice files (XML, p7m), folders, or - for standard input.",
        metavar="FILE|DIR...")],
    fmt: FormatOpt = "pdf",
    output: OutOpt = None,
    style: Annotated[str, typer.Option(
        "--style", metavar="WPEC|ADE",
            help="wpec (our view, with the validation band) or ade (the tax "
        "agency's stylesheet for the file's format).")] = "wpec",
    stylesheet: Annotated[Path | None, typer.Option(
        "--stylesheet", metavar="FILE", show_default=False,
            help="Any other XSL stylesheet (e.g. AssoSoftware's).")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse invalid invoices instead of rendering them with a band.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Render invoices as readable HTML or PDF (the PDF carries the original file)."""
    from wpec_invoicing.app.render import render_invoice_file

    fmt = _check_format(fmt)
    files, folder_given = _expand(paths)
    many = len(files) > 1 or folder_given
    if output is None and (many or as_json):
        raise InputError("several inputs (or --json): say where with --out DIR")
    if not files:
        raise InputError("no invoice files (.xml, .p7m) found in the folder(s) given")
    worst = 0
    for path in files:
        record: dict[str, Any] = {"file": str(path), "output": None, "valid": None,
                                  "problems": [], "error": None}
        try:
            data = _read(path)
            name = None if str(path) == "-" else path.name
            rendered = render_invoice_file(data, file_name=name, fmt=fmt, style=style,
                                           stylesheet=stylesheet, strict=strict)
            target = _target(output, rendered.file_name)
            _write(target, rendered.content)
            record.update(output=str(target) if target else "-", valid=rendered.valid,
                          problems=list(rendered.problems))
            if rendered.problems and not as_json:
                _err(f"wpec: warning: {path}: rendered with {len(rendered.problems)} "
                     f"problem(s) shown in the document; first: {rendered.problems[0]}")
        except InputError as exc:
            text = " ".join(str(exc).split())  # one line, whatever libxml2/libxslt said
            worst = max(worst, exc.exit_code)
            record["error"] = text
            _err(f"wpec: error: {text}")
        except OSError as exc:
            worst = 2
            record["error"] = f"{path}: cannot write the output: {exc.strerror or exc}"
            _err(f"wpec: error: {record['error']}")
        if as_json:
            _json_line(record)
        elif record["output"] not in (None, "-"):
            print(f"{path} -> {record['output']}")
    raise typer.Exit(worst)


@pec_app.command("render")
def pec_render(
    path: Annotated[Path, typer.Argument(
        help="A message file (.eml), as archived, or - for standard input.", metavar="FILE")],
    fmt: FormatOpt = "pdf",
    output: OutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render a PEC message (header, kind, certification data, signature, body, attachments;
    SdI outcome or the invoice an SdI envelope carries) as HTML or PDF."""
    from wpec_invoicing.app.render import render_message_file

    fmt = _check_format(fmt)
    if output is None and as_json:
        raise InputError("--json: say where with --out DIR")
    raw = _read(path)
    rendered = render_message_file(raw, fmt=fmt, name=None if str(path) == "-" else path.name)
    target = _target(output, rendered.file_name)
    _write(target, rendered.content)
    if as_json:
        _json_line({"file": str(path), "output": str(target)})
    elif target is not None:
        print(f"{path} -> {target}")


@invoices_app.command("print")
def invoices_print(
    status: Annotated[str | None, typer.Option(
        "--status", metavar="STATUS", show_default=False,
        help="verified, needs-review or refused.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", show_default=False,
            help="Invoices dated on or after this day (YYYY-MM-DD).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", show_default=False,
        help="Folder to write the PDFs to.")] = None,
    printer: Annotated[str | None, typer.Option(
        "--printer", metavar="NAME", show_default=False,
            help="CUPS printer (queue) name: prints with lp -d.")] = None,
    queue: Annotated[bool, typer.Option(
        "--queue", help="Carry out the print jobs queued by `print` rule actions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
    = False,
    config: ConfigOpt = None,
) -> None:
    """Print or file as PDF the received invoices chosen by status and date."""
    from wpec_invoicing.app import render as app_render
    from wpec_invoicing.app.context import AppContext

    day = None
    if since is not None:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise InputError(f"--since must be a date YYYY-MM-DD, not {since!r}") from None
    with AppContext.load(config) as ctx:
        if queue:
            done, failed = app_render.run_print_queue(ctx)
            if as_json:
                _json_line({"done": done, "failed": failed})
            else:
                _err(f"{done} queued print job(s) done, {failed} given up")
            raise typer.Exit(1 if failed else 0)
        batch = app_render.print_invoices(ctx, status=status, since=day, out_dir=output,
                                          printer=printer)
    if as_json:
        _json_line(batch.model_dump(mode="json"))
    else:
        for item in batch.items:
            where = item.cups_job_id or item.pdf or ""
            line = f"{item.invoice_id}\t{item.number or ''}\t{item.outcome}\t{where}"
            print(line if item.outcome != "failed" else f"{line}{item.error}")
        _err(f"{batch.done} invoice(s) done, {batch.failed} failed")
    raise typer.Exit(1 if batch.failed else 0)
