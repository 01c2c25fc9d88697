# One image for web and workers. BUILD_TORCH picks the torch build: the CPU wheel by default,
# the CUDA one for the GPU worker (docker-compose builds both).
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    LABELLOOP_VAR_DIR=/data STATIC_ROOT=/app/staticfiles

WORKDIR /app
COPY requirements.txt requirements.lock requirements-nodeps.txt ./
# torch first, pinned, from its own index (CPU or CUDA build), so nothing else pulls a different one;
# then everything else exactly as locked, each file checked against its hash (`make lock` writes it).
RUN pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL" \
 && pip install --no-cache-dir --require-hashes -r requirements.lock \
 && pip install --no-cache-dir --no-deps --require-hashes -r requirements-nodeps.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "annotator.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
