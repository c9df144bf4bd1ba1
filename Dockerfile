FROM python:3.11-slim
WORKDIR /srv
RUN apt-get update && apt-get install -y --no-install-recommends make gcc libmagic1 && rm -rf /var/lib/apt/lists/*
COPY . .
# Point TORCH_INDEX at a CPU-only wheel index (the default PyPI wheel of torch is a large CUDA build).
ARG TORCH_INDEX=""
RUN pip install --no-cache-dir torch==2.13.0 ${TORCH_INDEX:+--index-url $TORCH_INDEX} \
 && pip install --no-cache-dir '.[postgres]'
ENV OPENBLAS_NUM_THREADS=1 HF_HUB_OFFLINE=1 DO_NOT_TRACK=1
EXPOSE 8000
CMD ["grounded", "serve", "--host", "0.0.0.0", "--port", "8000"]
