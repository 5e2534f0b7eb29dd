# FlipTech Campaigns: one image for web (gunicorn), worker and beat (celery).
#   docker build -t fliptech .
#   docker run -e SECRET_KEY=… -e DATABASE_URL=… -e CELERY_BROKER_URL=… fliptech            # web
#   docker run … fliptech celery -A fliptech worker --loglevel=INFO                         # worker
# See compose.yaml for the whole stack and README.md for every variable.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLIPTECH_VAR_DIR=/app/var \
    FLIPTECH_REQUIRE_SECRET_KEY=1 \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000 \
    WEB_CONCURRENCY=2

RUN groupadd --system --gid 1000 fliptech \
    && useradd --system --uid 1000 --gid fliptech --home-dir /app --shell /usr/sbin/nologin fliptech

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

# Code and static files stay root-owned (read-only for the app); only var/ is writable.
COPY . .

# Static files (admin, Swagger UI) are collected at build time and served by whitenoise.
# The SECRET_KEY here only lets settings load for this step; it is not in the final env.
RUN DEBUG=0 SECRET_KEY=build-only-not-a-secret-0123456789abcdef-collectstatic \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var && chown -R fliptech:fliptech /app/var

USER fliptech
EXPOSE 8000

# gunicorn binds 0.0.0.0:$PORT and starts $WEB_CONCURRENCY workers (its own environment defaults).
CMD ["gunicorn", "fliptech.wsgi", "--access-logfile", "-"]
