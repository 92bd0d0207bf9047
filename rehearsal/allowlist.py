"""Grants the rehearsal cannot see used, each with the reason it is still needed.

A granted (action, resource) that no rehearsed call needed and that no entry here explains is
a least-privilege failure. Entries match a function key ("*" for all), an action, and a
substring of the granted resource.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Allowed:
    function: str
    action: str
    resource_part: str
    reason: str

    def covers(self, function: str, action: str, resource: str) -> bool:
        return (
            self.function in ("*", function)
            and self.action == action
            and self.resource_part in resource
        )


_LOGS = "the Lambda service writes the function's log stream with its role; no handler code does"
_STREAM = (
    "the event source mapping reads the table's stream with the dispatcher's role (Lambda's "
    "poller, not the handler)"
)
_DLQ = "the event source mapping sends a failed batch's record to the dead-letter queue"
_ABORT = (
    "boto3's upload_fileobj aborts a streamed multipart upload (the remuxed source, an "
    "assembled MP4: MediaStore.write_stream, ScratchStore.put_stream) when its ffmpeg fails "
    "mid-stream, which no rehearsed run does"
)

ALLOWED: tuple[Allowed, ...] = (
    Allowed("*", "logs:CreateLogStream", ":log-group:", _LOGS),
    Allowed("*", "logs:PutLogEvents", ":log-group:", _LOGS),
    Allowed("dispatcher", "dynamodb:DescribeStream", "/stream/", _STREAM),
    Allowed("dispatcher", "dynamodb:GetRecords", "/stream/", _STREAM),
    Allowed("dispatcher", "dynamodb:GetShardIterator", "/stream/", _STREAM),
    Allowed("dispatcher", "dynamodb:ListStreams", "*", _STREAM),
    Allowed("processor", "s3:AbortMultipartUpload", "/videos/", _ABORT),
    Allowed("processor", "s3:AbortMultipartUpload", "/work/", _ABORT),
    Allowed("dispatcher", "sqs:SendMessage", ":sqs:", _DLQ),
    Allowed("dispatcher", "sqs:GetQueueAttributes", ":sqs:", _DLQ),
    Allowed("dispatcher", "sqs:GetQueueUrl", ":sqs:", _DLQ),
    Allowed(
        "api",
        "s3:ListBucket",
        ":::",
        "makes HeadObject of a missing upload a 404 instead of a 403 (POST /videos answers "
        "400 'no such source'); S3 checks it implicitly, no call names it",
    ),
)


def reason_for(function: str, action: str, resource: str) -> str | None:
    for entry in ALLOWED:
        if entry.covers(function, action, resource):
            return entry.reason
    return None
