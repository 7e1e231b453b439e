# syntax=docker/dockerfile:1
# resource-engine: the engine and this project's resources.yaml, schemas/, migrations/ and plugins/.
#
#   docker build -t resource-engine .
#   docker run -p 8000:8000 -e DATABASE_URL=... -e ENGINE_JWT_SECRET=... -e ENGINE_FIELD_KEYS=... \
#     -e ENGINE_JWT_ISSUER=... -e ENGINE_JWT_AUDIENCE=... resource-engine
#
# compose.yaml beside this file runs it with PostgreSQL and Redis. See docs/deployment.md.

ARG PYTHON=python:3.11-slim-bookworm

# --- build: install the engine and its dependencies into a virtualenv ---------------------------------
FROM ${PYTHON} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler only for dependencies without a wheel for this platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so editing the project does not reinstall them.
COPY pyproject.toml README* ./
COPY engine ./engine
RUN pip install .

# --- run: the virtualenv and the project files, as an unprivileged user -----------------------------
FROM ${PYTHON}
RUN groupadd --system --gid 10001 engine \
    && useradd --system --uid 10001 --gid engine --home-dir /app --no-create-home --shell /usr/sbin/nologin engine
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The project: resources.yaml, schemas/, migrations/, plugins/, gunicorn.conf.py (.dockerignore drops the rest).
COPY --chown=root:root . ./

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENGINE_ENV=production \
    ENGINE_SPEC=/app/resources.yaml \
    ENGINE_HOST=0.0.0.0 \
    ENGINE_PORT=8000 \
    ENGINE_WORKERS=2

# The code and the spec belong to root and are read-only to the engine; it writes only under /tmp
# (the workers' metric files: serve --workers makes a temporary PROMETHEUS_MULTIPROC_DIR).
USER engine
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]

# `migrate apply` runs once per deployment (compose.yaml's migrate service), not in every container.
CMD ["resource-engine", "serve"]
