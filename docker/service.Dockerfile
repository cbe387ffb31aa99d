# The Twin service on CPU. By default it talks to a model server (vLLM) over HTTP and to a Qdrant
# server, so the image carries no torch. Build with INSTALL_EXTRAS=train to serve in-process.
#   docker build -f docker/service.Dockerfile -t twin-service .
FROM python:3.11-slim

ARG INSTALL_EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PIP_NO_CACHE_DIR=1

RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 twin
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY finetune finetune
COPY retrieval retrieval
COPY service service
COPY eval eval
# torch is pinned in the `train` extra; take the CPU wheel so the image stays small.
RUN if [ -n "$INSTALL_EXTRAS" ]; then \
        pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && \
        pip install ".[$INSTALL_EXTRAS]"; \
    else pip install .; fi

USER twin
# The twin folder (twin.toml, .twin/ with corpus, memories and adapters) is mounted here.
WORKDIR /twin
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fs http://127.0.0.1:8000/health || exit 1
CMD ["twin", "serve", "--host", "0.0.0.0", "--port", "8000"]
