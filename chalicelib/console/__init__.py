"""The web console: one page and its static assets, served by the app itself (see assets.py)."""
