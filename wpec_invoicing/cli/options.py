"""The options several commands share, declared once: same name, same metavar, same help.

The convention (README, "Conventions"): `--config FILE` is always a file to read, `--json`
always means JSON on stdout, `--account NAME` always names a configured account, `--trust
FILE|DIR` always takes a PEM file or a folder of them, `--out DIR` is always a folder to write
into. Paths are plain strings: expanded once by the command, never converted per value.
"""

from __future__ import annotations

from typing import Annotated

import typer

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", metavar="FILE", show_default=False,
                 help="The wpec.toml to read (default: $WPEC_CONFIG, else ./wpec.toml)."),
]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print JSON on stdout (one document per line); on failure a JSON error "
                   "object.")]
AccountOpt = Annotated[str | None, typer.Option(
    "--account", "-a", metavar="NAME", show_default=False,
    help="The configured account to use (default: the first).")]
TrustOpt = Annotated[str | None, typer.Option(
    "--trust", metavar="FILE|DIR", show_default=False,
    help="PEM file, or folder of .pem/.crt/.cer files, of the CA certificates to judge "
         "signers by.")]
