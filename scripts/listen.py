"""One WSGI application served on the same port of several addresses (loopback, and the gateway of a
Docker network a test made, so that functions in SAM's containers reach the same state)."""

import threading

from werkzeug.serving import make_server


def serve_on_hosts(hosts, port, app, **options):
    """Serves `app` on `port` of every address in `hosts` until the process ends."""
    servers = [make_server(host, port, app, threaded=True, **options) for host in hosts]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()
