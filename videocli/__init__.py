"""The video service's command line (`video`) and Python client (`videocli.client.Client`).

Not part of the deployed API: it runs on a user's machine. The client uses the standard
library only; the command line adds rich for its progress bars."""
