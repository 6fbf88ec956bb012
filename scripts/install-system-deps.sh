#!/usr/bin/env bash
# Installs the real servers the test suite talks to, when they are missing:
#   dovecot-imapd  (the real IMAP server of the integration tests and of `sandbox --imap dovecot`)
#   postgresql     (the store and ingestion tests run on SQLite and on PostgreSQL)
#   openssl        (the tests also make CAdES fixtures with `openssl cms`, as real signers do)
#   gcc, python3-dev (the compiled accelerators, `make native`; without them: plain Python)
#   poppler-utils  (pdftotext/pdftoppm: the render tests read and look at the PDFs they make)
#   cups, printer-driver-cups-pdf (the real printer of the print tests: cupsd + a PDF queue)
#   fonts-dejavu-core (the fonts the invoice and message PDFs embed)
#   chromium       (the console's browser tests, driven by Playwright: its own download cannot work)
# Without root or apt it says what is missing; the tests that need it then report themselves
# as skipped with the reason, never as passed.
set -uo pipefail
need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v openssl >/dev/null || need+=(openssl)
command -v cc >/dev/null || need+=(gcc)
command -v pdftotext >/dev/null || need+=(poppler-utils)
[ -x /usr/sbin/cupsd ] || need+=(cups)
[ -x /usr/lib/cups/backend/cups-pdf ] || need+=(printer-driver-cups-pdf)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null || need+=(chromium)
python=${PYTHON:-python3}
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
# Debian's own python3 takes its headers from python3-dev; another build ships its own
if [ -n "$include" ] && [ ! -e "$include/Python.h" ] && [ "$include" != "${include#/usr/include/}" ]; then
  need+=(python3-dev)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${need[*]}"
  # Keep Debian from starting the system-wide services: the tests run their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "warning: could not install ${need[*]}" >&2
else
  echo "warning: missing ${need[*]} and cannot install them (need root and apt-get)" >&2
fi
exit 0
