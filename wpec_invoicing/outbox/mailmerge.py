"""Mass PEC of documents other than invoices: one message per recipient, personalised.

WHY one message each: PEC refuses Bcc, and only To: recipients get full receipts; a legal
notice sent to 300 customers must prove delivery to each of them separately.

Inputs:
- the recipients CSV: a column `pec` (or `email` / `address`) with one address per row, any
  other columns usable in the template, optionally `attachments` (file names separated by `;`,
  relative to the attachment folder);
- the template: `Subject: ...` on its first line, a blank line, then the body; `{column}`
  placeholders are filled from the row;
- the attachment folder: a row's files are those its `attachments` column names, else every
  file in the sub-folder named after the row's `id` column or its address.
Every row is checked (address, placeholders, files) before anything is queued.
"""

from __future__ import annotations

import csv
import io
import string
from dataclasses import dataclass
from pathlib import Path

ADDRESS_COLUMNS = ("pec", "email", "address", "indirizzo")


class TemplateError(ValueError):
    """The template cannot be used at all."""


@dataclass
class Template:
    subject: str
    body: str

    @property
    def fields(self) -> set[str]:
        names = set()
        for text in (self.subject, self.body):
            for _lit, name, _spec, _conv in string.Formatter().parse(text):
                if name:
                    names.add(name)
        return names


def parse_template(text: str) -> Template:
    text = text.lstrip("\ufeff")
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise TemplateError("the template's first line must be `Subject: ...`")
    body = rest[1:] if rest.startswith("\n") else rest.lstrip("\r\n")
    template = Template(first.split(":", 1)[1].strip(), body)
    try:
        template.fields  # noqa: B018 - parse now so a broken `{` is reported here
    except ValueError as exc:
        raise TemplateError(f"template: {exc}") from None
    # Placeholders are plain `{column}`: a format spec or conversion (`{name:>999999999}`)
    # could make one message gigabytes long, and nobody needs it in a letter.
    for text in (template.subject, template.body):
        for _lit, name, spec, conv in string.Formatter().parse(text):
            if name is not None and (spec or conv):
                shown = name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
                raise TemplateError(f"template: {{{shown}}}: placeholders are plain "
                                    "{column}, without format specs or conversions")
    return template


def read_recipients(text: str) -> tuple[list[dict[str, str]], str]:
    """Rows and the name of the address column."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), dialect=dialect)
    try:
        fields = [f.strip() for f in (reader.fieldnames or [])]
        column = next((c for c in fields if c.lower() in ADDRESS_COLUMNS), None)
        if column is None:
            raise TemplateError(f"recipients CSV: no address column (one of "
                                f"{', '.join(ADDRESS_COLUMNS)}); columns: {', '.join(fields)}")
        rows = [{(k or "").strip(): v.strip() if isinstance(v, str) else ""
                 for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise TemplateError(f"recipients CSV: line {reader.line_num}: {exc}") from None
    return rows, column


def row_attachments(row: dict[str, str], address: str,
                    attach_dir: Path | None) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(files, problems) for one row."""
    if attach_dir is None:
        return [], []
    problems: list[str] = []
    files: list[tuple[str, bytes]] = []
    root = attach_dir.resolve()
    names = [n.strip() for n in (row.get("attachments") or "").split(";") if n.strip()]
    paths: list[Path] = []
    if names:
        for name in names:
            path = (root / name).resolve()
            if root not in path.parents:
                problems.append(f"attachment {name!r} is outside {attach_dir}")
            elif not path.is_file():
                problems.append(f"attachment {name!r} not found in {attach_dir}")
            else:
                paths.append(path)
    else:
        for key in (row.get("id") or "", address):
            folder = (root / key).resolve() if key else None
            if folder is not None and root in folder.parents and folder.is_dir():
                paths = sorted(p for p in folder.iterdir()
                               if p.is_file() and not p.name.startswith("."))
                break
    for path in paths:
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror or exc}")
    return files, problems


def render(template: Template, row: dict[str, str]) -> tuple[str, str] | list[str]:
    missing = sorted(f for f in template.fields if f not in row)
    if missing:
        return [f"template uses {{{m}}}, which is not a column of the CSV" for m in missing]
    return template.subject.format_map(row), template.body.format_map(row)
