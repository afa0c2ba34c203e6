"""A webhook receiver for this machine: verifies every delivery with the `standardwebhooks` package
(signature, id, timestamp within 5 minutes) and prints each verified event as one JSON line:
`{"attempt", "webhook-id", "event", "receivedAt"}`, where `receivedAt` is when the request arrived
(before it was verified), ISO 8601 UTC with microseconds (`2026-11-26T10:00:00.123456Z`).

    python scripts/webhook_receiver.py --secret whsec_... [--port 8025] [--fail-first N]

Answers 204 to a verified delivery and 400 (with the reason, also on stderr) to any other.
`--fail-first N` answers 500 to the first N attempts of each event id, as a receiver that is down
would, so that retries can be watched: a retry carries the same `webhook-id`. Prints
`listening on http://127.0.0.1:<port>` once it listens (port 0: a free one).
"""

import argparse
import json
import os
import sys
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def handler(webhook, fail_first):
    attempts = Counter()
    lock = Lock()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                event = webhook.verify(body, headers)
            except (WebhookVerificationError, ValueError) as error:
                print(f"refused: {error}", file=sys.stderr, flush=True)
                return self.answer(400, f"refused: {error}")
            event_id = headers["webhook-id"]
            with lock:
                attempts[event_id] += 1
                attempt = attempts[event_id]
            if attempt <= fail_first:
                return self.answer(500, f"failing attempt {attempt} of {event_id} on purpose")
            line = {"attempt": attempt, "webhook-id": event_id, "event": event, "receivedAt": received_at}
            # One write per line, under the lock: deliveries arrive concurrently, and print's
            # separate write of the newline would let two lines run together.
            with lock:
                sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
                sys.stdout.flush()
            return self.answer(204, "")

        def answer(self, status, text):
            data = text.encode()
            self.send_response(status)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass  # one line per event on stdout is the output

    return Receiver


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"), help="the endpoint's whsec_ secret")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to this many attempts per event")
    args = parser.parse_args()
    if not args.secret:
        parser.error("--secret (or WEBHOOK_SECRET) is required: the secret the endpoint was created with")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(Webhook(args.secret), args.fail_first))
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
