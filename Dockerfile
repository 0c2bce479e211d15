# arxiv-digest-bot: one process, one SQLite file on a volume.
# Settings come from the environment (`docker run --env-file .env`, or `env_file: .env` in
# docker-compose.yml); no .env is copied into the image (.dockerignore keeps it out of the build).
# The bot runs as uid 10001: a bind-mounted /data must be writable by it (`chown 10001` on the host).
FROM python:3.11-slim

# MALLOC_ARENA_MAX=1: one malloc arena for the few threads (the store's, the ranker's); each thread's
# own arena cost 7 MB of peak RSS in benchmarks/footprint.py (166 MB → 159 MB with 1,000 voting chats).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MALLOC_ARENA_MAX=1 \
    DATABASE_URL=sqlite:////data/arxiv-digest.db

WORKDIR /app
# constraints.txt pins every runtime dependency (and theirs) to the versions the tests ran with.
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install -c constraints.txt . \
    && groupadd --gid 10001 digest \
    && useradd --no-log-init --create-home --uid 10001 --gid 10001 digest \
    && mkdir -p /data \
    && chown 10001:10001 /data

# Numeric, so an orchestrator can check it is not root (Kubernetes' runAsNonRoot).
USER 10001:10001
# Relative paths (a DATABASE_URL like sqlite:///arxiv-digest.db, --output) land on the volume.
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["arxiv-digest"]
CMD ["run"]
