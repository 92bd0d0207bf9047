"""`make run`'s development server: the app on the embedded backends, over real HTTP.

Outside `chalicelib/` on purpose: the Lambda bundle ships `app.py` and `chalicelib/` only, and
nothing in them imports this package. `__main__.py` starts it (`python -m devserver`),
`server.py` is the HTTP server (Chalice's gateway for the API, media and uploads streamed from
and to disk), `startup.py` what a restart cleans up.
"""
