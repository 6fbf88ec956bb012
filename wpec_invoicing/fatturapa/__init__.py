"""fatturapa package."""
