"""schemathesis hooks for scripts/contract_test.sh (loaded through SCHEMATHESIS_HOOKS).

`before_call` gives generated requests real resources to act on: an operation on an existing
invoice (or line, or job) gets, per request, a fresh one in the state the operation needs (finalize
a DRAFT, send a FINAL, unreconcile the transactions the request names...), so that generated data
reaches the handlers instead of ending at 404/409. Path values that are not ids at all (negative
cases) are left as generated, and the stateful phase keeps the ids its OpenAPI links carry.

Xero connections (`/integrations/xero...`, SPEC section 7): the development account the stack
creates has a custom connection (invoicing-admin connect-xero), which the contract run's reconcile
fixtures rely on, so it is never given an OAuth connection here. On it, `GET /integrations/xero`
answers 200 (CONNECTED, CUSTOM_CONNECTION) and `DELETE /integrations/xero` answers 409 (a custom
connection is the operator's): schemathesis counts a 409 as a conflict, neither missing test data
nor a validation mismatch, and the reconcile fixtures keep their connection. Likewise
`PUT /integrations/xero/settings` there: `pushInvoices` alone is 200 (the custom connection is in
use), `pullPayments` 409 (a custom connection without `--tenant-id` names no organisation). The
OAuth flow runs on a second account of its own (`_xero_account`, made once with invoicing-admin):
- `GET /integrations/xero/callback` takes no credentials and answers 400 to any `state` it did not
  issue, so generated requests alone would never reach a connection (a validation mismatch, which
  fails the run). A positive case becomes a successful return from Xero: a real `state` from
  `POST /integrations/xero/connect` of the OAuth account (with a `redirectUrl` every other time, so
  that both the 302 and the HTML page are checked), the generated `code` (or one of ours when it has
  none; xero-local's token endpoint accepts any) and no `error`, which Xero never sends with a code.
  Negative cases keep their generated `state`: their 400 page is what is checked.
- `PUT /integrations/xero` with a generated `tenantId` would be 409 on the development account (no
  OAuth authorization) or 400 on a connected OAuth account (not a tenant the authorization gave). A
  positive case is sent as the OAuth account, connected, with one of its tenants.
This needs the stack's functions to reach xero-local for authorize, token and connections
(XERO_AUTHORIZE_URL, XERO_TOKEN_URL, XERO_CONNECTIONS_URL in the stack's environment).

`POST /invoices/{invoiceId}/sync-to-integration` gets a fresh FINAL invoice; it answers 202 only
for an account that pushes invoices to Xero, and 409 otherwise (documented, counted as a conflict).
A positive case first turns `pushInvoices` on for the development account (200 on its custom
connection, as above), so that the 202 answer, the invoice with its PENDING Xero entry, is checked
too; nothing consumes the push queue in the contract run (SQS_TRIGGER=0), so the entry stays
PENDING with no `externalId`. Negative cases find the settings as the run left them.

`POST /integrations/xero/webhooks` takes no API credentials either: `x-xero-signature` (HMAC-SHA256
of the raw body under the Xero app's webhook key) is the credential, and a generated signature is
always wrong, a 401. Were every case a 401, schemathesis would warn that the operation is never
authenticated (missing_auth), which fails the run. A positive case is therefore sent as Xero sends
one: the generated body serialized once, those exact bytes sent, signed with the stack's webhook key
(XERO_WEBHOOK_KEY of stack.env, which contract_test.sh exports; local-stack.sh stores it with
invoicing-admin set-xero-webhook-key), so its 200 (or 400 for a body the function cannot read) is
checked. Its events name organisations no account pulls, so nothing is queued. Negative cases keep
their generated signature (or none): their 401 is what is checked.

The other two hooks concern `cargo lambda watch`, the local stand-in for API Gateway, and never a
function's answer.

`filter_case`: the emulator answers some requests with its own 500
before any function runs: header values outside ASCII and bodies that are not UTF-8 text cannot be
put in the JSON event it hands to a function. API Gateway delivers both, and the functions answer
them 400 (a header that is not ASCII is refused by the HTTP edge, a body that is not JSON by the
parser). Those requests test the emulator, not the API, so they are left out here.
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import pathlib
import re
import subprocess
import threading
from urllib.parse import parse_qs, urlsplit

import requests
import schemathesis
from schemathesis.core import NotSet

# What `cargo lambda watch` itself answers when it fails to relay an invocation: no detail and no
# Sequence-Version header (every answer of the API's HTTP edge carries one).
EMULATOR_500 = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'


def _deliverable(value) -> bool:
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return False
    return True


@schemathesis.hook
def filter_case(context, case) -> bool:
    for value in (case.headers or {}).values():
        if isinstance(value, str) and not value.isascii():
            return False
    return _deliverable(case.body)


def _emulator_failure(response) -> bool:
    return (
        response.status_code == 500
        and response.content == EMULATOR_500
        and "sequence-version" not in {name.lower() for name in response.headers}
    )


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure except the emulator's occasional 500 when relaying a large answer
    (hundreds of KB; a Lambda answer may be 6 MB): the same request is sent again, and the failure
    is dropped only if the emulator then relays the function's answer. One that reproduces stays."""
    if not _emulator_failure(response):
        return True
    sent = response.request
    for _ in range(3):
        again = requests.request(sent.method, sent.url, headers=dict(sent.headers), data=sent.body, timeout=120)
        if not (again.status_code == 500 and again.content == EMULATOR_500 and "sequence-version" not in again.headers):
            return False
    return True


_EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_local = threading.local()


def _event_body(name):
    """The sample body of an `events/` file: the fixtures create what the README shows."""
    return json.loads(json.loads((_EVENTS / name).read_text())["body"])


_INVOICE = _event_body("create-invoice.json")
_LINE = _event_body("add-line-item.json")


def _session(case):
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        # The credentials `--auth` gave schemathesis.
        session.auth = case.operation.schema.config.auth_for(operation=case.operation)
    return session


def _post(case, path, body=None, check=True):
    response = _session(case).post(case.operation.schema.get_base_url() + path, json=body, timeout=120)
    if check and not 200 <= response.status_code < 300:
        raise RuntimeError(f"fixture POST {path} -> {response.status_code} {response.text[:300]}")
    return response


def _put(case, path, body):
    response = _session(case).put(case.operation.schema.get_base_url() + path, json=body, timeout=120)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"fixture PUT {path} -> {response.status_code} {response.text[:300]}")
    return response


def _draft(case):
    return {"invoiceId": _post(case, "/invoices", _INVOICE).json()["id"]}


def _final(case):
    ids = _draft(case)
    _post(case, f"/invoices/{ids['invoiceId']}/line-items", _LINE)
    _post(case, f"/invoices/{ids['invoiceId']}/finalize")
    return ids


def _pushed_final(case):
    """A FINAL invoice; for a positive case, of an account that pushes invoices (see the module's docstring)."""
    ids = _final(case)
    if _positive(case):
        _put(case, "/integrations/xero/settings", {"pushInvoices": True, "pullPayments": False})
    return ids


def _with_line(case):
    ids = _draft(case)
    ids["lineItemId"] = _post(case, f"/invoices/{ids['invoiceId']}/line-items", _LINE).json()["id"]
    return ids


def _with_payments(case):
    """A FINAL invoice holding the transactions the request will remove (when the body is one
    that reconcile takes; a negative body just finds none)."""
    ids = _final(case)
    if isinstance(case.body, list) and case.body:
        _post(case, f"/invoice/{ids['invoiceId']}/reconcile", case.body, check=False)
    return ids


def _job(case):
    body = {"integrationService": "Xero", "invoiceIds": [], "propertiesToCompare": ["STATUS"]}
    return {"jobId": _post(case, "/invoices/reconcile-with-integration", body).json()["id"]}


def _webhook_endpoint(case):
    body = {"url": "https://hooks.example.test/contract", "events": ["*"]}
    return {"endpointId": _post(case, "/webhook-endpoints", body).json()["id"]}


def _webhook_url(case):
    """A positive case's generated `url` is some URI, seldom an https one to a public host: it
    becomes one, so that the rest of the generated body reaches the handler. Negative cases keep
    theirs: their 400 is what is checked."""
    if _positive(case) and isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        case.body["url"] = f"https://hooks.example.test/{len(case.body['url'])}"


def _group_for_body(case, invoice_id):
    """A generated line naming a `groupId` gets a real group of the invoice."""
    if isinstance(case.body, dict) and isinstance(case.body.get("groupId"), str) and _UUID.match(case.body["groupId"]):
        group = _post(case, f"/invoices/{invoice_id}/line-item-groups", {"title": "Fixture group"}).json()
        case.body["groupId"] = group["id"]


# The Xero OAuth flow, on an account of its own (see the module's docstring).
_ROOT = pathlib.Path(__file__).resolve().parent.parent
_XERO_LOCK = threading.RLock()
_xero = {}
_REDIRECTS = itertools.cycle(["https://app.example.test/settings/integrations", None])


def _xero_account():
    """A session authenticated as the OAuth fixture account, made once with invoicing-admin (the
    stack's environment, which contract_test.sh exports, names the table and moto)."""
    with _XERO_LOCK:
        if "session" not in _xero:
            target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", "target"))
            admin = (target if target.is_absolute() else _ROOT / target) / "debug" / "invoicing-admin"
            out = subprocess.run(
                [str(admin), "create-account", "--name", "Contract Xero OAuth fixture"],
                check=True, capture_output=True, text=True, timeout=120,
            ).stdout
            issued = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
            session = requests.Session()
            session.auth = (issued["CLIENT_ID"], issued["CLIENT_SECRET"])
            _xero["session"] = session
        return _xero["session"]


def _xero_state(case):
    """A `state` the callback will accept once: POST /integrations/xero/connect of the OAuth account."""
    redirect = next(_REDIRECTS)
    body = {"redirectUrl": redirect} if redirect else None
    response = _xero_account().post(
        case.operation.schema.get_base_url() + "/integrations/xero/connect", json=body, timeout=120
    )
    if response.status_code != 200:
        raise RuntimeError(f"fixture POST /integrations/xero/connect -> {response.status_code} {response.text[:300]}")
    state = parse_qs(urlsplit(response.json()["authorizeUrl"]).query).get("state", [None])[0]
    if not state:
        raise RuntimeError(f"fixture: no state in {response.json()['authorizeUrl']}")
    return state


def _xero_callback(case):
    """A positive callback case as Xero's successful return (see the module's docstring)."""
    code = case.query.get("code")
    case.query["state"] = _xero_state(case)
    case.query["code"] = code if isinstance(code, str) and code else "contract-fixture-code"
    case.query.pop("error", None)
    case.query.pop("error_description", None)


def _xero_tenant(case, kwargs):
    """A positive tenant choice, as the OAuth account (connected on first use) with one of its tenants."""
    if not isinstance(case.body, dict) or not isinstance(case.body.get("tenantId"), str):
        return
    headers = case.headers
    if headers is None or headers.get("Authorization") != _basic(_session(case).auth) or "X-API-Key" in headers:
        return  # credentials other than the run's (`--auth`) are what the case tests
    session = _xero_account()
    base = case.operation.schema.get_base_url()
    with _XERO_LOCK:
        if "tenants" not in _xero:
            state = _xero_state(case)
            back = requests.get(
                base + "/integrations/xero/callback",
                params={"code": "contract-fixture-code", "state": state},
                allow_redirects=False, timeout=120,
            )
            if back.status_code not in (200, 302):
                raise RuntimeError(f"fixture GET /integrations/xero/callback -> {back.status_code} {back.text[:300]}")
            connection = session.get(base + "/integrations/xero", timeout=120).json()
            tenants = [tenant["tenantId"] for tenant in connection.get("tenants") or []]
            if not tenants:
                raise RuntimeError(f"fixture: the OAuth account has no tenant to choose: {connection}")
            _xero["tenants"] = tenants
    case.body["tenantId"] = _xero["tenants"][0]
    headers["Authorization"] = _basic(session.auth)
    kwargs["auth"] = session.auth


def _xero_webhook(case, kwargs):
    """A positive webhook case as Xero sends it, signed (see the module's docstring)."""
    key = os.environ.get("XERO_WEBHOOK_KEY")
    if not key:
        raise RuntimeError("fixture: XERO_WEBHOOK_KEY is not set (the stack's stack.env names it)")
    if isinstance(case.body, NotSet):
        return  # no body was generated: nothing to sign
    body = json.dumps(case.body, allow_nan=False).encode()
    signature = base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    if case.headers is None:
        case.headers = {}
    case.headers["x-xero-signature"] = signature
    # The bytes signed are the bytes sent: schemathesis does not serialize a body given here.
    kwargs["data"] = body


def _basic(auth):
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def _positive(case):
    return case.meta is not None and case.meta.generation.mode.is_positive


_FIXTURES = {
    "GET /invoices/{invoiceId}": _draft,
    "GET /invoices/{invoiceId}/line-items": _with_line,
    "POST /invoices/{invoiceId}/line-items": _draft,
    "PUT /invoices/{invoiceId}/line-items/{lineItemId}": _with_line,
    "DELETE /invoices/{invoiceId}/line-items/{lineItemId}": _with_line,
    "POST /invoices/{invoiceId}/line-item-groups": _draft,
    "POST /invoices/{invoiceId}/finalize": _draft,
    "POST /invoices/{invoiceId}/send": _final,
    "POST /invoices/{invoiceId}/void": _draft,
    "POST /invoices/{invoiceId}/sync-to-integration": _pushed_final,
    "GET /invoice/{invoiceId}": _final,
    "POST /invoice/{invoiceId}/reconcile": _final,
    "POST /invoice/{invoiceId}/unreconcile": _with_payments,
    "GET /invoices/reconcile-with-integration/{jobId}": _job,
    "GET /invoices/reconcile-with-integration/{jobId}/results": _job,
    "GET /webhook-endpoints/{endpointId}": _webhook_endpoint,
    "PATCH /webhook-endpoints/{endpointId}": _webhook_endpoint,
    "DELETE /webhook-endpoints/{endpointId}": _webhook_endpoint,
    "GET /webhook-endpoints/{endpointId}/deliveries": _webhook_endpoint,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or meta.phase.name == "stateful" or case.method.upper() != case.operation.method.upper():
        return  # the coverage phase's unexpected-method probes (405) need no fixture
    if case.operation.label == "GET /integrations/xero/callback" and _positive(case):
        _xero_callback(case)
        return
    if case.operation.label == "PUT /integrations/xero" and _positive(case):
        _xero_tenant(case, kwargs)
        return
    if case.operation.label == "POST /integrations/xero/webhooks" and _positive(case):
        _xero_webhook(case, kwargs)
        return
    if case.operation.label in ("POST /webhook-endpoints", "PATCH /webhook-endpoints/{endpointId}"):
        _webhook_url(case)
    fixture = _FIXTURES.get(case.operation.label)
    if fixture is None:
        return
    params = case.path_parameters or {}
    if not all(isinstance(value, str) and _UUID.match(value) for value in params.values()):
        return  # a value that is not an id stays as generated: its 400 is what is tested
    ids = fixture(case)
    case.path_parameters.update({name: value for name, value in ids.items() if name in params})
    if "invoiceId" in ids and case.operation.label.endswith("/line-items") or "{lineItemId}" in case.operation.label:
        _group_for_body(case, ids["invoiceId"])
