# Baton: `docker run IMAGE` runs the worker; `docker run IMAGE demo` feeds demo events.

# --- build: install Baton and its dependencies into a self-contained venv ---------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.md is the package's readme in pyproject.toml: the build fails without it.
COPY pyproject.toml README.md ./
COPY baton ./baton
# rocksdb extra: lets BATON_STORE=rocksdb:// work without rebuilding.
RUN python -m venv /opt/baton && /opt/baton/bin/pip install ".[rocksdb]"

# --- runtime: the venv only, run as an unprivileged user --------------------------
FROM python:3.11-slim
ENV PATH=/opt/baton/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --user-group baton \
    && mkdir /app && chown baton:baton /app
COPY --from=build /opt/baton /opt/baton
USER baton
# Working directory = where Baton looks for baton.toml and keeps .baton/ state.
WORKDIR /app
EXPOSE 6066
ENTRYPOINT ["baton"]
CMD ["worker"]
