"""`python -m wpec_invoicing` is `wpec`."""

from wpec_invoicing.cli import main

if __name__ == "__main__":  # not when a worker process re-imports it (ingest.ahead)
    main()
