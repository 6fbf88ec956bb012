"""The command groups of `wpec`, created in one place so several modules can add to one group
(e.g. `invoice validate` lives with the FatturaPA engine, `invoice create` with the outbox)."""

import typer


def _group(help_text: str) -> typer.Typer:
    # Help texts are plain text: "[/BURST]" in an option's help must not be read as Rich markup.
    return typer.Typer(
        help=help_text, no_args_is_help=True, add_completion=False, rich_markup_mode=None
    )


invoice_app = _group("Read, validate, write and follow FatturaPA invoice files.")
pec_app = _group("Inspect PEC messages: kind, certification data, signature, SdI payload.")
sandbox_app = _group("A local PEC provider and SdI, for trying and testing everything.")
db_app = _group("The store: migrations.")
invoices_app = _group("Invoices received (passive cycle) and their verification state.")
outbox_app = _group("The persistent outbox: run it, see its state.")
mail_app = _group("Mass PEC sending of documents other than invoices.")
token_app = _group("API tokens for `wpec serve`: create (shown once), list, revoke.")
user_app = _group("Console users: add, list, change password, disable.")
messages_app = _group("Messages in the store: those whose processing failed, and retrying them.")

GROUPS: dict[str, typer.Typer] = {
    "invoice": invoice_app,
    "invoices": invoices_app,
    "pec": pec_app,
    "sandbox": sandbox_app,
    "db": db_app,
    "outbox": outbox_app,
    "mail": mail_app,
    "messages": messages_app,
    "token": token_app,
    "user": user_app,
}
