"""The video metadata store: one port, an SQLite and a DynamoDB adapter."""

from chalicelib.store.base import Page, VideoStore

__all__ = ["Page", "VideoStore"]
