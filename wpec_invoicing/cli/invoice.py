"""Commands of the invoice area (filled in by its issue)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's top-level commands to `app` (group commands use cli.groups)."""
