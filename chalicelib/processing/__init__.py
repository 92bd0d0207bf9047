"""Orchestration of one video's processing: the one-pass job, and the segmented plan / segment /
assemble actions, over one run context and one stage runner (`context`).

`chalicelib.media` is the pure ffmpeg and model work both paths call; this package decides what
runs where, with which timeouts and work dirs, and how each stage is reported.
"""
