# syntax=docker/dockerfile:1
# The `smartwatch` image: the project's Python package (API, operator, CLI) on python:slim,
# installed from uv.lock, run as uid 10001. Entrypoint `smartwatch`: the chart runs
# `smartwatch api` and `smartwatch operator --in-cluster ...`.
#
# Build from the repository root (skaffold.yaml does):
#   docker build -f build/images/smartwatch.Dockerfile -t smartwatch .
# The build args' defaults equal versions.env (tests/unit/test_versions.py checks them).
# pyspark is left out: the Spark jobs run in the smartwatch-spark image.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG UV_VERSION=0.13.8
# uv from PyPI, as build/setup.sh installs it.
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/smartwatch/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# Third-party packages first (a layer that changes only with the lock), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project \
      --no-install-package pyspark --no-install-package py4j
COPY services services
COPY jobs jobs
COPY operator operator
RUN uv sync --frozen --no-dev --no-editable \
      --no-install-package pyspark --no-install-package py4j

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 smartwatch \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin smartwatch
COPY --from=build /opt/smartwatch/venv /opt/smartwatch/venv
ENV PATH=/opt/smartwatch/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SMARTWATCH_API_HOST=0.0.0.0
# The command imports every entrypoint's module tree: fail the build, not the pod.
RUN smartwatch --help >/dev/null \
 && python -c "import smartwatch.api, smartwatch_operator.main, smartwatch.db"
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
ENTRYPOINT ["smartwatch"]
CMD ["--help"]
