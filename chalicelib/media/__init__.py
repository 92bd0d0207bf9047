"""The media pipeline: fetch, probe, transcode, thumbnails, analysis and subtitles with ffmpeg.

Heavy libraries (PyAV, OpenCV, rapidocr, faster-whisper, imageio-ffmpeg) are imported inside
functions only: the API's cold path imports `chalicelib` and must stay light.
"""
