"""moto_server, applying one DynamoDB request at a time (and restoring items, not whole tables, when a transaction fails).

moto's TransactWriteItems is not atomic across concurrent requests: a transaction whose condition
fails restores a snapshot of every table it touched, undoing writes that other requests made in the
meantime. DynamoDB never does that. Serializing DynamoDB requests (connections are still served by
threads, and other services, such as SQS long polls, are not held up) makes the local server keep
DynamoDB's guarantees, which the concurrency tests depend on. DynamoDB Streams requests are serialized
with them (a stream read never sees a transaction half-applied), and a failed transaction drops the
stream records it appended, as DynamoDB never streams one.

Usage: python serialized_moto.py -H 127.0.0.1 [-H 172.30.0.1 ...] -p 5050 (every host, one state)
"""

import argparse
import copy
import threading

import moto.backends
import moto.dynamodb.models as dynamodb_models
import moto.dynamodbstreams.models as dynamodbstreams_models
from moto.dynamodb.models.dynamo_type import DynamoType

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from listen import serve_on_hosts


class _NoTableCopies:
    """Stands in for the `copy` module inside moto's TransactWriteItems, which deep-copies every
    table it touches (once per item of the transaction) to restore it if a condition fails: with
    every invoice write a transaction, that is a copy of the whole table per write, quadratic in
    the table's size. Here a table "copy" is the table itself (moto's own restore becomes a no-op)
    and `_transact_write_items_restoring_items` restores the items the transaction touched."""

    def deepcopy(self, value, *args, **kwargs):
        if type(value).__name__ == "Table":
            return value
        return copy.deepcopy(value, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(copy, name)


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _touched_items(backend, transact_items):
    """(table, hash key, range key, a copy of the item as it is now or None) per item."""
    touched = []
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            key = op.get("Item") or op.get("Key") if table is not None else None
            if not key or table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
            touched.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
    return touched


def _restore(touched):
    for table, hash_value, range_value, item in reversed(touched):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item


def _stream_lengths(backend, transact_items):
    """(stream shard, how many records it has now) per table of the transaction that has a stream."""
    names = {op.get("TableName") for entry in transact_items for op in entry.values() if isinstance(op, dict)}
    return [(table.stream_shard, len(table.stream_shard.items)) for name in names
            if (table := backend.tables.get(name)) is not None and table.stream_shard is not None]


def _transact_write_items_restoring_items(self, transact_items):
    # Safe to swap the module's `copy` and to snapshot items here: DynamoDB requests run one at a
    # time (see Serialized), so nothing else changes the items in between.
    touched = _touched_items(self, transact_items)
    streams = _stream_lengths(self, transact_items)
    dynamodb_models.copy = _NoTableCopies()
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        _restore(touched)
        for shard, length in streams:
            del shard.items[length:]
        raise
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_restoring_items


def _get_records_forgetting_the_iterator(self, iterator_arn, limit):
    # moto keeps every shard iterator it ever made, and each GetRecords makes one: a poller's
    # iterators grew the server by some 50 MB an hour. DynamoDB's iterators expire after 15
    # minutes; here one is forgotten once it has been read (the local trigger never reads one twice).
    try:
        return _get_records(self, iterator_arn, limit)
    finally:
        self.shard_iterators.pop(iterator_arn, None)


_get_records = dynamodbstreams_models.DynamoDBStreamsBackend.get_records
dynamodbstreams_models.DynamoDBStreamsBackend.get_records = _get_records_forgetting_the_iterator


# moto looks its service modules up on disk (os.listdir and an isdir per entry, some 200) on every
# request to route it by Host: a tenth of the server's CPU in the contract run (py-spy). They do not
# change while it runs.
_MOTO_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MOTO_MODULES


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(("DynamoDB_", "DynamoDBStreams_")):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", action="append", help="address to listen on (repeatable; default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    serve_on_hosts(args.host or ["127.0.0.1"], args.port, Serialized(app), request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
