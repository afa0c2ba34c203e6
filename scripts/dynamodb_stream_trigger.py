"""Local stand-in for Lambda's DynamoDB Streams event source mapping.

Reads every shard of the table's stream from TRIM_HORIZON (so records written before it started are
not missed), invokes the function through `cargo lambda watch`'s Lambda invoke API with a DynamoDB
event of up to --batch-size records, in order per shard, as with `FunctionResponseTypes:
ReportBatchItemFailures`: the records before the first one reported in `batchItemFailures` are done
and the batch is retried from that record; if the invocation failed, from its first record. A record
is never skipped (no retry limit, no on-failure destination), so a function that keeps failing on a
record holds up its shard, as on AWS with the default mapping.

Usage: python dynamodb_stream_trigger.py --table invoicing-local --function relay-webhook-events --invoke-url http://127.0.0.1:9000
(AWS_ENDPOINT_URL, AWS_REGION and credentials from the environment, as for every AWS client.)
"""

import argparse
import base64
import os
import signal
import sys
import time
from http.client import HTTPException

import boto3

import sqs_trigger  # its Lambda invoke call (the scripts/ folder is on the path when run as a script)

LOG = "dynamodb-stream-trigger:"


def invoke(url, event, timeout):
    # Binary attribute values (bytes in boto3) are base64 strings in Lambda's JSON event.
    return sqs_trigger.invoke(url, event, timeout, encode=lambda value: base64.b64encode(value).decode())


def lambda_record(record, stream_arn, region):
    """A GetRecords record (low-level client: attribute values stay DynamoDB JSON) as Lambda sends it."""
    stream = record["dynamodb"]
    dynamodb = {"ApproximateCreationDateTime": stream["ApproximateCreationDateTime"].timestamp()}
    dynamodb.update((key, stream[key]) for key in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes",
                                                   "StreamViewType") if key in stream)
    return {"eventID": record["eventID"], "eventName": record["eventName"], "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": region, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def stream_arn(dynamodb, table):
    """The table's latest stream, waiting for the table and its stream to exist."""
    waiting = False
    while True:
        try:
            arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        except dynamodb.exceptions.ResourceNotFoundException:
            arn = None
        if arn:
            return arn
        if not waiting:
            print(f"{LOG} waiting for a stream on table {table}", flush=True)
            waiting = True
        time.sleep(1)


class Shard:
    def __init__(self, description):
        self.id = description["ShardId"]
        self.parent = description.get("ParentShardId")
        self.iterator = None  # None: get one (again) after `read`
        self.read = None  # the sequence number of the last record read
        self.closed = False  # GetRecords gave no NextShardIterator: nothing more will come
        self.pending = []  # records read and not yet handled, in order


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    dynamodb = boto3.client("dynamodb", region_name=region)
    streams = boto3.client("dynamodbstreams", region_name=region)
    url = f"{args.invoke_url}/2015-03-31/functions/{args.function}/invocations"
    arn, shards, refreshed = None, {}, 0.0
    while True:
        try:
            if time.monotonic() - refreshed > 5:  # a new stream (the table made again) or new shards
                latest = stream_arn(dynamodb, args.table)
                if latest != arn:
                    arn, shards = latest, {}
                    print(f"{LOG} {arn} -> {args.function}", flush=True)
                start = None
                while True:
                    page = streams.describe_stream(StreamArn=arn, **({"ExclusiveStartShardId": start} if start else {}))
                    for description in page["StreamDescription"]["Shards"]:
                        shards.setdefault(description["ShardId"], Shard(description))
                    start = page["StreamDescription"].get("LastEvaluatedShardId")
                    if not start:
                        break
                refreshed = time.monotonic()
            busy = False
            for shard in shards.values():
                parent = shards.get(shard.parent)
                if parent and not (parent.closed and not parent.pending):
                    continue  # a child shard's records come after its parent's
                if shard.iterator is None and not shard.closed:
                    position = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.read}
                                if shard.read else {"ShardIteratorType": "TRIM_HORIZON"})
                    shard.iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard.id,
                                                                **position)["ShardIterator"]
                if shard.iterator and len(shard.pending) < args.batch_size:
                    got = streams.get_records(ShardIterator=shard.iterator,
                                              Limit=min(1000, args.batch_size - len(shard.pending)))
                    shard.pending += got["Records"]
                    shard.iterator = got.get("NextShardIterator")
                    shard.closed = shard.iterator is None
                    if got["Records"]:
                        shard.read = got["Records"][-1]["dynamodb"]["SequenceNumber"]
                if shard.pending:
                    busy = True
                    deliver(shard, url, arn, region, args)
        except Exception as error:  # the local server restarting: try again shortly, from where each shard was
            print(f"{LOG} stream read failed: {str(error).splitlines()[0] if str(error) else error!r}", flush=True)
            for shard in shards.values():
                shard.iterator = None
            refreshed = 0.0
            time.sleep(1)
            continue
        if not busy:
            time.sleep(0.1)


def deliver(shard, url, arn, region, args):
    """Invokes the function with the shard's first records; drops the ones it handled."""
    batch = shard.pending[:args.batch_size]
    try:
        answer = invoke(url, {"Records": [lambda_record(r, arn, region) for r in batch]}, args.timeout)
    except (OSError, HTTPException, RuntimeError, ValueError) as error:  # URLError, timeouts, dropped connections
        print(f"{LOG} invocation failed, {len(batch)} records will be retried: {error}", flush=True)
        time.sleep(1)
        return
    sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
    failures = (answer.get("batchItemFailures") if isinstance(answer, dict) else None) or []
    failed = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    # The batch resumes at the first record reported; an identifier naming no record fails the whole batch.
    done = min((sequence.index(f) if f in sequence else 0 for f in failed), default=len(batch))
    del shard.pending[:done]
    retry = f" from {sequence[done]}" if done < len(batch) else ""
    print(f"{LOG} {done} handled, {len(batch) - done} to retry{retry}", flush=True)
    if done < len(batch):
        time.sleep(1)


if __name__ == "__main__":
    main()
