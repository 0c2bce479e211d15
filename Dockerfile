# arxiv-digest-bot: one process, one SQLite file on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/arxiv-digest.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install . \
    && useradd --create-home --uid 10001 digest \
    && mkdir -p /data \
    && chown digest:digest /data

USER digest
VOLUME ["/data"]
ENTRYPOINT ["arxiv-digest"]
CMD ["run"]
