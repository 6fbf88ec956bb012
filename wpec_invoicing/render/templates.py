"""The Jinja2 environment of the renderers: packaged templates, Italian filters, autoescape.

Why autoescape everywhere: every value shown comes from a file someone else wrote (an invoice
description, a mail subject); it is text, never markup. The only markup that enters a page is
a message's HTML body, after `nh3` has sanitised it (see `message.py`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from wpec_invoicing.render import formatting
from wpec_invoicing.render.codes import describe, labelled
from wpec_invoicing.resources import data_dir


def assets_dir() -> Path:
    """The packaged templates and stylesheet: the only files a rendering may read."""
    return data_dir() / "render"


def iban(value: str | None) -> str:
    """`IT60 X054 2811 1010 0000 0123 456`: an IBAN as printed on paper."""
    if not value:
        return ""
    compact = "".join(value.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(assets_dir())),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        money=formatting.money,
        number=formatting.number,
        rate=formatting.rate,
        day=formatting.day,
        long_day=formatting.long_day,
        moment=formatting.moment,
        size=formatting.size,
        code=labelled,
        code_text=describe,
        iban=iban,
    )
    return env


@cache
def stylesheet() -> str:
    """The print CSS, inlined in every page so the HTML is self-contained."""
    return (assets_dir() / "render.css").read_text(encoding="utf-8")
