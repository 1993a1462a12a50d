# syntax=docker/dockerfile:1
# The zero-cost service: API and workers from one image.
#   docker build -t zero-cost .                                   # CPU torch (default)
#   docker build -t zero-cost:cuda --build-arg TORCH_VARIANT=cu124 \
#       --build-arg BASE_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 .
ARG BASE_IMAGE=python:3.11-slim

FROM python:3.11-slim AS build
ARG TORCH_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, from PyTorch's own index for the chosen variant (cpu, cu124, ...), so that
# the project's "torch>=2.4" is already satisfied and no other build is pulled in.
RUN pip install "torch>=2.4" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY zero_cost ./zero_cost
COPY app ./app
COPY migrations ./migrations
RUN pip install .

FROM ${BASE_IMAGE} AS runtime
# A CUDA base image has no Python of its own: install the one the venv was built with.
# The venv's interpreter link points at /usr/local/bin/python3.11, as in the build stage.
RUN if [ ! -x /usr/local/bin/python3.11 ]; then \
        apt-get update && apt-get install -y --no-install-recommends python3.11 \
        && rm -rf /var/lib/apt/lists/* \
        && ln -s /usr/bin/python3.11 /usr/local/bin/python3.11; \
    fi
RUN useradd --create-home --uid 10001 zerocost
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////home/zerocost/zero_cost.db
USER zerocost
WORKDIR /home/zerocost
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["zero-cost", "serve", "--host", "0.0.0.0", "--port", "8000"]
