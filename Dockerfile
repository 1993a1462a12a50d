# syntax=docker/dockerfile:1
# The zero-cost service: API and workers from one image, built and run on one base.
#   docker build -t zero-cost .                                       # CPU torch (default)
#   docker build -t zero-cost:cuda --build-arg TORCH_VARIANT=cu130 .  # CUDA 13.0 torch
# PyTorch's CUDA wheels bring their CUDA libraries, and the NVIDIA Container Toolkit mounts
# the host's driver (CUDA 13.0 needs driver 580 or newer), so the GPU image needs no CUDA base
# image. Python packages are the exact versions of requirements.lock (`make lock` refreshes it),
# and torch is TORCH_VERSION from PyTorch's index for TORCH_VARIANT (cpu, cu130, ...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_VARIANT=cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
# The lock first: it holds torch's own requirements too, so that torch adds only itself (and,
# for a CUDA variant, its CUDA libraries).
RUN pip install --no-cache-dir --no-deps -r requirements.lock \
    && pip install --no-cache-dir "torch==${TORCH_VERSION}" \
        --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
COPY pyproject.toml README.md ./
COPY zero_cost ./zero_cost
COPY app ./app
COPY migrations ./migrations
# The project alone, built with the locked setuptools; then check nothing is missing.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 zerocost \
    && useradd --create-home --uid 10001 --gid 10001 zerocost
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    DATABASE_URL=sqlite:////home/zerocost/zero_cost.db
USER 10001:10001
WORKDIR /home/zerocost
EXPOSE 8000
# The API's health; docker-compose.yml gives the workers their own and the migration none.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Listening on every interface needs ZC_API_KEYS (or ZC_ALLOW_ANONYMOUS=1): see the README.
CMD ["zero-cost", "serve", "--host", "0.0.0.0", "--port", "8000"]
