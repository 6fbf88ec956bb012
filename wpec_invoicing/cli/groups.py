"""The command groups of `wpec`, created in one place so several modules can add to one group
(e.g. `invoice validate` lives with the FatturaPA engine, `invoice create` with the outbox).

Each group's help is its line in `cli.COMMANDS` (the table `wpec --help` reads), so the two
cannot drift apart.
"""

import typer

from wpec_invoicing.cli import COMMANDS


def _group(name: str) -> typer.Typer:
    # Help texts are plain text: "[/BURST]" in an option's help must not be read as Rich markup.
    return typer.Typer(help=COMMANDS[name].help, no_args_is_help=True, add_completion=False,
                       rich_markup_mode=None)


invoice_app = _group("invoice")
pec_app = _group("pec")
sandbox_app = _group("sandbox")
db_app = _group("db")
invoices_app = _group("invoices")
outbox_app = _group("outbox")
mail_app = _group("mail")
messages_app = _group("messages")
token_app = _group("token")
user_app = _group("user")

# The groups by name (as `cli.COMMANDS` names them), for modules that look a group up.
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
