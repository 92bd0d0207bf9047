"""The HTTP API layer: the service the routes call, request validation, cursors, uploads,
stream documents and the rendering of media references into URLs."""
