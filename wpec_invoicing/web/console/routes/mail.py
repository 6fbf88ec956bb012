"""Posta: every archived message by account and folder, filters, detail (headers,
certification data, signature verdict, bodies, attachments, rules that ran), the raw .eml,
a PDF copy.

The HTML body is sanitised (app.console.sanitise_html) and, on top of that, shown in an
<iframe sandbox> served with a CSP that forbids every script and every remote fetch: a hostile
message can neither run code nor phone home, even if the sanitiser missed something.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from wpec_invoicing.app import console, messages, render
from wpec_invoicing.web.console.routes.common import (
    download,
    frame,
    parse_day,
    query_without,
)
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)


@router.get("/posta")
def mail_list(ui: Annotated[Ui, Depends(need("viewer"))], account: str = "", folder: str = "",
              kind: str = "", sender: str = "", subject: str = "", status: str = "",
              since: str = "", until: str = "", cursor: str | None = None) -> Response:
    page = messages.list_messages(
        ui.ctx, status=status or None, kind=kind or None, account=account or None,
        folder=folder or None, sender=sender or None, subject=subject or None,
        since=parse_day(since, ui.gettext("from")), until=parse_day(until, ui.gettext("to")),
        cursor=cursor, limit=50)
    from wpec_invoicing.app.accounts import list_accounts

    return ui.render("mail_list.html", title=ui.gettext("Mailbox"), page=page,
                     f={"account": account, "folder": folder, "kind": kind, "sender": sender,
                        "subject": subject, "status": status, "since": since, "until": until},
                     accounts=list_accounts(ui.ctx), statuses=messages.STATUSES,
                     more=query_without(ui.request.query_params, "cursor"))


@router.get("/posta/{message_id}")
def mail_detail(ui: Annotated[Ui, Depends(need("viewer"))], message_id: int) -> Response:
    msg = messages.get_message(ui.ctx, message_id)
    bodies = console.message_bodies(ui.ctx, message_id)
    return ui.render("mail_detail.html", title=msg.subject or str(msg.id), msg=msg,
                     bodies=bodies)


@router.get("/posta/{message_id}/html")
def mail_html(ui: Annotated[Ui, Depends(need("viewer"))], message_id: int) -> Response:
    """The sanitised HTML body, for the sandboxed frame of the detail page only."""
    bodies = console.message_bodies(ui.ctx, message_id)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>body</title></head>"
            f"<body>{bodies.html or ''}</body></html>")
    return frame(page)


@router.get("/posta/{message_id}/pdf")
def mail_pdf(ui: Annotated[Ui, Depends(need("viewer"))], message_id: int) -> Response:
    """The readable copy of the message (the .eml embedded), to print or keep."""
    doc = render.message_pdf(ui.ctx, message_id)
    return download(doc.content, doc.file_name, doc.media_type)


@router.get("/posta/{message_id}/eml")
def mail_raw(ui: Annotated[Ui, Depends(need("viewer"))], message_id: int) -> Response:
    blob = messages.raw_message(ui.ctx, message_id)
    return download(blob.data, blob.file_name, "message/rfc822")


@router.get("/posta/{message_id}/allegati/{sha256}")
def mail_attachment(ui: Annotated[Ui, Depends(need("viewer"))], message_id: int,
                    sha256: str) -> Response:
    blob = messages.attachment(ui.ctx, message_id, sha256)
    return download(blob.data, blob.file_name, "application/octet-stream")
