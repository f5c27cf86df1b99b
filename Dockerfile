# The salesfloor worker (and the simulator, same image: `docker run IMAGE simulate --realtime`).
#   docker build -t salesfloor .    # or: docker compose build
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml ./
COPY streams ./streams
COPY agents ./agents
RUN pip install . \
 && useradd --system --uid 10001 --create-home --home-dir /home/salesfloor salesfloor \
 && mkdir -p /var/lib/salesfloor \
 && chown salesfloor /var/lib/salesfloor

# Inside a container the web port must listen on every interface to be scraped; the state
# directory is per container (tables are rebuilt from their changelog topics on start).
# Bound beyond loopback, the worker needs SALESFLOOR_WEB_TOKEN(_FILE) or SALESFLOOR_WEB_ALLOW_ANONYMOUS=1
# (SPEC §8); docker-compose.yml makes a token per stack.
ENV SALESFLOOR_WEB_HOST=0.0.0.0 \
    SALESFLOOR_WEB_PORT=6066 \
    SALESFLOOR_DATA_DIR=/var/lib/salesfloor

USER salesfloor
WORKDIR /var/lib/salesfloor
EXPOSE 6066

# Liveness only: /api/health (open without the web token) answers 200 when caught up and 503 while the
# worker catches up (readiness); either means the worker is alive.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.error, urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('SALESFLOOR_WEB_PORT', '6066'), timeout=4)\nexcept urllib.error.HTTPError as exc:\n    raise SystemExit(exc.code != 503)"]

ENTRYPOINT ["salesfloor"]
CMD ["worker"]
