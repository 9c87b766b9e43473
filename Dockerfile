# mmbot image: multi-stage; the final stage holds only the runtime virtualenv, the config and a non-root user.
# Build steps use the README's install command (python3 -m venv … && pip install .).
#
# BASE_IMAGE: a Debian-based image with python3 (3.11) and its venv module, the same for both stages
# (the venv is copied between them): python:3.11-slim from Docker Hub by default, or with no registry
# access the image docker/build-base.sh makes from Debian's own packages:
#   docker/build-base.sh && docker build --build-arg BASE_IMAGE=mmbot-python:3.11-bookworm -t mmbot .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python3 -m venv /opt/venv && . /opt/venv/bin/activate && pip install --no-cache-dir .

FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mmbot" \
      org.opencontainers.image.description="Paper-trading market-making bot"
RUN groupadd --system --gid 10001 mmbot \
    && useradd --system --uid 10001 --gid mmbot --home-dir /app --shell /usr/sbin/nologin mmbot \
    && mkdir -p /data \
    && chown mmbot:mmbot /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    MMBOT_DATA_DIR=/data \
    MMBOT_HTTP__LISTEN=0.0.0.0:8080 \
    MMBOT_LOGGING__FORMAT=json
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["mmbot"]
CMD ["run", "--config", "config/default.toml"]
