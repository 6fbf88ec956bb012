"""`wpec demo --serve`'s second half on a real demo run: the console comes up, prints its
address and a demo admin's credentials, and every page of the console answers on the demo's
data to that user. (The first half, the demo itself, is what the `site` fixture ran.)"""

import re
import subprocess
import sys
import time

import httpx

from tests.browser.conftest import _free_port

PAGES = ("/", "/fatture-ricevute", "/fatture-ricevute?status=needs-review", "/fatture-emesse",
         "/invio", "/invio-massivo", "/posta", "/fornitori", "/caselle", "/regole", "/avvisi",
         "/registro", "/utenti", "/token")


def test_demo_serve_prints_credentials_that_open_every_page(site):
    port = _free_port()
    code = ("import sys; from wpec_invoicing.web.console.serve import serve_demo; "
            "serve_demo(sys.argv[1], port=int(sys.argv[2]), echo=lambda s: print(s, flush=True))")
    server = subprocess.Popen([sys.executable, "-c", code, str(site.config.parent), str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        found = re.search(r"console: (http://127\.0\.0\.1:\d+/)\s+user: (\S+)\s+password: (\S+)",
                          line)
        assert found, line
        url, user, password = found.groups()
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(300):
                try:
                    login_page = client.get("/login")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
            assert client.post("/login", data={"name": user, "password": password,
                                               "csrf_token": token}).status_code == 303
            for path in PAGES:
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
                assert "<h1" in response.text
            first = re.search(r'href="(/fatture-ricevute/\d+)"',
                              client.get("/fatture-ricevute").text).group(1)
            assert client.get(first).status_code == 200
    finally:
        server.terminate()
        server.wait(10)
