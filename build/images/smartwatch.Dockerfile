# The `smartwatch` image: the project's Python package (API, operator, CLI), installed from
# uv.lock, run as uid 10001. Entrypoint `smartwatch`: the chart runs `smartwatch api` and
# `smartwatch operator --in-cluster ...`.
#
# Build from the repository root (skaffold.yaml does):
#   docker build -f build/images/smartwatch.Dockerfile -t smartwatch .
# BASE is the base image: Python's public slim image by default; any Debian base of the same
# release works too (where no image can be pulled, the Debian base that make setup builds by
# debootstrap): Python then comes from Debian's packages. The build args' defaults equal
# versions.env (tests/unit/test_versions.py checks them). No BuildKit-only syntax, so the
# classic builder builds it too. The `jobs` extra (pyspark, pyarrow, numpy) is left out: the
# Spark jobs run in the smartwatch-spark image.

ARG PYTHON_VERSION=3.11
ARG BASE=python:${PYTHON_VERSION}-slim
# The build stage's base: BASE itself unless the builder hands another (the dev tooling hands
# BASE plus the building host's trust store, for hosts behind a TLS-inspecting proxy); the
# final image is always on BASE.
ARG BUILD_BASE=${BASE}

FROM ${BUILD_BASE} AS build
ARG PYTHON_VERSION
ARG UV_VERSION=0.13.8
# Python from Debian's packages where the base has none; uv from PyPI, as build/setup.sh
# installs it.
RUN if ! command -v "python${PYTHON_VERSION}" >/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "python${PYTHON_VERSION}" "python${PYTHON_VERSION}-venv" ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && "python${PYTHON_VERSION}" -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/smartwatch/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# Third-party packages first (a layer that changes only with the lock), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --python "python${PYTHON_VERSION}"
COPY services services
COPY jobs jobs
COPY operator operator
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --python "python${PYTHON_VERSION}"

FROM ${BASE}
ARG PYTHON_VERSION
RUN if ! command -v "python${PYTHON_VERSION}" >/dev/null; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "python${PYTHON_VERSION}" ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 smartwatch \
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
