# The service as an image: slim, not root, its health checked on /health.
#   docker build -t lite-llm-chat .
#   docker run -p 8000:8000 -e DEEPSEEK_API_KEY=sk-... lite-llm-chat
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BACKEND_HOST=0.0.0.0 \
    BACKEND_PORT=8000 \
    UPLOAD_DIR=/app/uploads

WORKDIR /app
RUN useradd --create-home --uid 10001 app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=app:app . .
RUN mkdir -p "$UPLOAD_DIR" && chown app:app "$UPLOAD_DIR"

USER app
EXPOSE 8000
# The port is BACKEND_PORT's, as main.py serves it; no curl in a slim image, so Python asks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"BACKEND_PORT\", \"8000\")}/health', timeout=4)"
CMD ["python", "main.py"]
