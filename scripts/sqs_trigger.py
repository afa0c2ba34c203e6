"""Local stand-in for Lambda's SQS event source mapping.

Receives up to --batch-size messages, invokes the function through `cargo lambda watch`'s Lambda
invoke API with an SQS event, deletes the messages it handled and leaves the ones it reported in
`batchItemFailures` (or all of them, if the invocation failed) to come back after the queue's
visibility timeout; the queue's redrive policy moves them to its dead-letter queue after
maxReceiveCount deliveries, as on AWS.

Usage: python sqs_trigger.py --queue-url URL --function reconcile-worker --invoke-url http://127.0.0.1:9000
(AWS_ENDPOINT_URL, AWS_REGION and credentials from the environment, as for every AWS client.)
"""

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

import boto3


def invoke(url, event, timeout, encode=None):
    """Invokes the function through the Lambda invoke API; `encode` turns values JSON cannot hold
    into what Lambda's event carries (the stream trigger's binary attributes). Its answer, parsed."""
    request = urllib.request.Request(url, data=json.dumps(event, default=encode).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.headers.get("X-Amz-Function-Error"):
            raise RuntimeError("function error: " + response.read().decode(errors="replace")[:500])
        return json.loads(response.read() or b"{}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue-url", required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--invoke-url", required=True)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    sqs = boto3.client("sqs", region_name=region)
    arn = sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = f"{args.invoke_url}/2015-03-31/functions/{args.function}/invocations"
    print(f"sqs-trigger: {args.queue_url} -> {args.function}", flush=True)
    while True:
        try:
            received = sqs.receive_message(QueueUrl=args.queue_url, MaxNumberOfMessages=args.batch_size,
                                           WaitTimeSeconds=0, AttributeNames=["All"])
        except Exception as error:  # the local server restarting: try again shortly
            print(f"sqs-trigger: receive failed: {error}", flush=True)
            time.sleep(1)
            continue
        messages = received.get("Messages", [])
        if not messages:
            time.sleep(0.2)
            continue
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region,
        } for m in messages]}
        try:
            answer = invoke(url, event, args.timeout)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except (urllib.error.URLError, RuntimeError, TimeoutError, ValueError) as error:
            print(f"sqs-trigger: invocation failed, {len(messages)} messages will be retried: {error}", flush=True)
            continue
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])]
            sqs.delete_message_batch(QueueUrl=args.queue_url, Entries=entries)
        print(f"sqs-trigger: {len(done)} handled, {len(failed)} to retry", flush=True)


if __name__ == "__main__":
    main()
