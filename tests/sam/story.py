"""The events/ files in the order of one invoice's life, each with the answer it must get. The
development account is seeded (invoicing-admin seed-examples) with the draft invoice, line,
reconcile job and webhook endpoint the events name; the steps then create, edit, finalize, send,
pay, unpay, reconcile with Xero, ask for a push to Xero (off for the account), take a signed Xero
webhook and a pull of Xero's payments (off for the account), sweep Xero's changes (on its schedule's
event; no account pulls) and void, register webhook endpoints, relay an outbox event and carry out
a delivery message. Both SAM tests walk it: `sam local invoke` per event, and HTTP requests built
from the events against `sam local start-api`."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
INVOICE = "01a21186-0000-7000-8000-000000000000"
LINE = "01a21186-0000-7000-8000-0000000000a1"
JOB = "01a21186-0000-7000-8000-00000000a0b0"
ACCOUNT = "01a21186-0000-7000-8000-00000000acc7"
WEBHOOK_ENDPOINT = "01a21186-0000-7000-8000-0000000000e1"


@dataclass
class Answer:
    status: int
    headers: dict
    body: object  # parsed JSON, or None when empty


@dataclass
class Step:
    function: str
    status: int  # None: not an HTTP route (a queue, stream or schedule's function), answered as is
    check: Callable[[Answer], None]

    @property
    def event(self):
        return ROOT / "events" / f"{self.function}.json"


def _created_invoice(answer):
    body = answer.body
    assert body["status"] == "DRAFT" and body["customerId"] == "cust-example"
    assert body["sequenceAccountId"] == ACCOUNT
    assert answer.headers["location"] == f"/invoices/{body['id']}"


def _totals(answer):
    assert answer.body["total"] == {"grossTotal": "48000.24", "netTotal": "40000.20", "totalTax": "8000.04"}
    assert [t["id"] for t in answer.body["lineItemTotals"]] == ["af60cab3-812d-4250-a051-0fb7133a00c7"]


def _invoice_list(answer):
    ids = [invoice["id"] for invoice in answer.body["items"]]
    assert INVOICE in ids and len(ids) == 2, ids  # the seeded invoice and the one just created


def _seeded_draft(answer):
    body = answer.body
    assert (body["id"], body["status"], body["grossTotal"]) == (INVOICE, "DRAFT", "240.00")


def _seeded_lines(answer):
    assert [(line["id"], line["grossTotal"]) for line in answer.body["items"]] == [(LINE, "240.00")]
    assert answer.body["pagination"] == {"after": None}


def _group(answer):
    body = answer.body
    assert (body["invoiceId"], body["title"], body["grossTotal"]) == (INVOICE, "Cars", "0.00")


def _added_line(answer):
    body = answer.body
    assert (body["invoiceId"], body["netTotal"], body["totalTax"], body["grossTotal"]) == (
        INVOICE, "1500.00", "300.00", "1800.00")
    assert answer.headers["location"] == f"/invoices/{INVOICE}/line-items/{body['id']}"


def _updated_line(answer):
    body = answer.body
    assert (body["id"], body["title"], body["grossTotal"]) == (LINE, "Consulting", "1800.00")


def _removed(answer):
    assert answer.body is None


def _invoice_in(status, number="INV-000001"):
    def check(answer):
        body = answer.body
        assert (body["id"], body["status"], body["invoiceNumber"], body["grossTotal"]) == (
            INVOICE, status, number, "1800.00")
    return check


def _aggregate(status, collected, transactions):
    def check(answer):
        invoice = answer.body["invoice"]
        assert (invoice["id"], invoice["status"], invoice["collectedAmountCents"]) == (INVOICE, status, collected)
        assert len(invoice["invoiceTransactions"]) == transactions
        assert answer.body["invoiceDetails"]["lineItemsAndTotals"]["totalAmountCents"] == 180000
    return check


def _job_accepted(answer):
    assert answer.body["status"] == "QUEUED" and answer.body["id"] != JOB
    assert answer.headers["location"] == f"/invoices/reconcile-with-integration/{answer.body['id']}"


def _worker(answer):
    # Every message (or stream record) of the batch handled: nothing to be delivered again.
    assert answer.body == {"batchItemFailures": []}


def _job_completed(answer):
    body = answer.body
    assert (body["id"], body["status"]) == (JOB, "COMPLETED")
    assert body["counts"] == {"total": 1, "matched": 0, "mismatched": 0, "notInIntegration": 1,
                              "notFound": 0, "skipped": 0, "failed": 0}


def _job_results(answer):
    # xero-local has no invoice INV-000001.
    assert [(r["invoiceId"], r["outcome"]) for r in answer.body["items"]] == [(INVOICE, "NOT_IN_INTEGRATION")]


def _custom_connection(answer):
    # The development account has an operator's custom connection (local-stack.sh).
    assert (answer.body["status"], answer.body["kind"]) == ("CONNECTED", "CUSTOM_CONNECTION")


def _authorize_url(answer):
    url = answer.body["authorizeUrl"]
    assert "/identity/connect/authorize?response_type=code&client_id=invoicing-local-app&" in url, url
    assert "code_challenge_method=S256" in url and "state=" in url, url


def _callback_page(answer):
    # The event's state was never handed out: nothing changes, a page says why.
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert "This link is unknown or was already used" in answer.body


def _conflict(answer):
    assert answer.body["error"]["type"] == "Conflict", answer.body


def _sync_settings(updated):
    def check(answer):
        body = answer.body
        # The events' body turns both directions off, which needs no Xero connection.
        assert (body["pushInvoices"], body["pullPayments"], body["salesAccountCode"], body["tenantId"]) == (
            False, False, "200", None), body
        assert (body["updatedAt"] is not None) == updated, body  # never set until the PUT
    return check


def _push_off(answer):
    # The development account does not push invoices to Xero (the settings just turned it off).
    _conflict(answer)
    assert "pushing invoices to Xero is off" in answer.body["error"]["message"], answer.body


def _webhook_accepted(answer):
    # Xero's intent-to-receive check, signed with the stack's webhook key (events-webhook-key,
    # local-stack.sh): acknowledged with an empty body, nothing queued (no events).
    assert answer.body is None, answer.body


def _swept_nothing(answer):
    # No account on the stack pulls Xero's payments (the settings just turned it off): nothing to
    # sweep, and nothing failed.
    assert answer.body == {"accountsSwept": 0, "accountsFailed": 0, "pullsQueued": 0}, answer.body


def _created_endpoint(answer):
    body = answer.body
    assert body["url"] == "https://hooks.example.test/invoices", body
    assert body["events"] == ["INVOICE_FINALIZED", "INVOICE_PAYMENT_STATUS_CHANGED"] and body["status"] == "ENABLED"
    assert body["secret"].startswith("whsec_")
    assert answer.headers["location"] == f"/webhook-endpoints/{body['id']}"


def _endpoint_list(answer):
    items = answer.body["items"]
    assert items[0]["id"] == WEBHOOK_ENDPOINT and len(items) == 2, items  # the seeded one, then the new
    assert all("secret" not in item for item in items)


def _seeded_endpoint(answer):
    body = answer.body
    # Seeded DISABLED: its host (.test) does not exist, and nothing should try to reach it.
    assert (body["id"], body["status"], body["events"]) == (WEBHOOK_ENDPOINT, "DISABLED", ["*"]), body
    assert "secret" not in body


def _no_deliveries(answer):
    # Nothing delivered under SAM (no trigger feeds deliver-webhooks), and the delivery message
    # names the seeded endpoint, which is DISABLED: dropped, no attempt made.
    assert answer.body == {"items": [], "pagination": {"after": None}}, answer.body


def _disabled_endpoint(answer):
    assert (answer.body["status"], answer.body["events"]) == ("DISABLED", ["INVOICE_VOIDED"]), answer.body


STORY = [
    Step("create-invoice", 201, _created_invoice),
    Step("calculate-invoice-totals", 200, _totals),
    Step("list-invoices", 200, _invoice_list),
    Step("get-invoice", 200, _seeded_draft),
    Step("list-line-items", 200, _seeded_lines),
    Step("create-line-item-group", 201, _group),
    Step("add-line-item", 201, _added_line),
    Step("update-line-item", 200, _updated_line),
    Step("remove-line-item", 204, _removed),
    Step("finalize-invoice", 200, _invoice_in("FINAL")),
    Step("send-invoice", 200, _invoice_in("SENT")),
    Step("reconcile-invoice-payments", 200, _aggregate("paid", 180000, 1)),
    Step("get-invoice-aggregate", 200, _aggregate("paid", 180000, 1)),
    Step("unreconcile-invoice-payments", 200, _aggregate("unpaid", 0, 0)),
    Step("reconcile-with-integration", 202, _job_accepted),
    Step("reconcile-worker", None, _worker),
    Step("get-reconcile-job", 200, _job_completed),
    Step("list-reconcile-results", 200, _job_results),
    Step("get-xero-connection", 200, _custom_connection),
    Step("connect-xero", 200, _authorize_url),
    Step("xero-callback", 400, _callback_page),
    Step("select-xero-tenant", 409, _conflict),
    Step("disconnect-xero", 409, _conflict),
    Step("get-xero-sync-settings", 200, _sync_settings(updated=False)),
    Step("update-xero-sync-settings", 200, _sync_settings(updated=True)),
    Step("sync-invoice-to-integration", 409, _push_off),
    # A push message for the invoice: the account does not push invoices, so the worker skips it.
    Step("push-to-xero", None, _worker),
    Step("receive-xero-webhooks", 200, _webhook_accepted),
    # A pull message for a Xero invoice: the account does not pull payments, so the worker skips it.
    Step("pull-from-xero", None, _worker),
    # The sweep on its EventBridge schedule's event: the account does not pull payments either.
    Step("sweep-xero-changes", None, _swept_nothing),
    Step("void-invoice", 200, _invoice_in("VOIDED")),
    Step("create-webhook-endpoint", 201, _created_endpoint),
    Step("list-webhook-endpoints", 200, _endpoint_list),
    Step("get-webhook-endpoint", 200, _seeded_endpoint),
    # The outbox's stream record of an INVOICE_FINALIZED event: queued for the new endpoint (the
    # seeded one is DISABLED).
    Step("relay-webhook-events", None, _worker),
    # A delivery message to the seeded endpoint (DISABLED): dropped without an attempt.
    Step("deliver-webhooks", None, _worker),
    Step("list-webhook-deliveries", 200, _no_deliveries),
    Step("update-webhook-endpoint", 200, _disabled_endpoint),
    Step("delete-webhook-endpoint", 204, _removed),
]


def lambda_answer(step, answer):
    """An API Gateway (payload 2.0) answer as SAM's invoke prints it; a queue, stream or schedule's
    function's as is."""
    if step.status is None:
        return Answer(status=None, headers={}, body=answer)
    headers = {name.lower(): value for name, value in (answer.get("headers") or {}).items()}
    return Answer(status=answer["statusCode"], headers=headers, body=parse_body(answer.get("body"), headers))


def parse_body(body, headers):
    """JSON, or the text of an HTML page (the Xero callback's); None when empty."""
    if not body:
        return None
    if headers.get("content-type", "").startswith("text/html"):
        return body.decode() if isinstance(body, bytes) else body
    return json.loads(body)


def check(step, answer):
    assert answer.status == step.status, f"{step.function}: {answer.status} {answer.body}"
    step.check(answer)
