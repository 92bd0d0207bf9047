"""Runtime code of the video service: everything the Lambda functions import."""
