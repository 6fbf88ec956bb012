"""`python -m wpec_invoicing` is `wpec`."""

from wpec_invoicing.cli import main

main()
