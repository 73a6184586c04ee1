# The `smartwatch-spark` image: driver and executors of the landing job and of every
# aggregation run.
#   - Spark from the pinned pyspark (uv.lock), on Java from Debian's packages (JAVA_RELEASE,
#     one of SPARK_JAVA_RELEASES) and Python from Debian's packages (PYTHON_VERSION);
#   - in Spark's jars/ (the classpath of driver and executors): Spark's Kafka connector, the
#     Postgres JDBC driver and the S3A connector (hadoop-aws at the Hadoop version pyspark
#     ships, with the AWS SDK modules it needs), without the jars Spark already ships;
#   - the project's Python package, and the jobs at /opt/smartwatch/jobs/smartwatch_jobs/, so
#     that local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py is the SparkApplications'
#     entrypoint. SPARK_HOME is /opt/spark (pyspark's folder), spark-submit is on PATH;
#   - the entrypoint of the driver and executor pods Spark on Kubernetes starts
#     (build/images/spark/smartwatch-spark-entrypoint).
#
# The build context is made by the dev tooling (services/smartwatch_dev/stack/images.py): the
# project's lock and sources, this folder's spark/ files, and jars/, resolved from Maven
# Central. BASE: a Debian base of DEBIAN_SUITE's release (where no image can be pulled, the one
# make setup builds by debootstrap); BUILD_BASE: the build stage's base (BASE unless the
# builder hands BASE plus its host's trust store). No BuildKit-only syntax.

ARG BASE=debian:bookworm-slim
ARG BUILD_BASE=${BASE}

FROM ${BUILD_BASE} AS build
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.8
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "python${PYTHON_VERSION}" "python${PYTHON_VERSION}-venv" ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && "python${PYTHON_VERSION}" -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/opt/smartwatch/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /src
# Third-party packages first (pyspark among them: a layer that changes only with the lock).
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --extra jobs --no-install-project --python "python${PYTHON_VERSION}"
COPY services services
COPY jobs jobs
COPY operator operator
RUN /opt/uv/bin/uv sync --frozen --no-dev --extra jobs --no-editable --python "python${PYTHON_VERSION}" \
 && mkdir -p /opt/smartwatch/jobs \
 && cp -r jobs/smartwatch_jobs /opt/smartwatch/jobs/ \
 && find /opt/smartwatch/jobs -name __pycache__ -prune -exec rm -rf {} +
COPY jars/ /opt/smartwatch/venv/lib/python${PYTHON_VERSION}/site-packages/pyspark/jars/

FROM ${BASE}
ARG PYTHON_VERSION=3.11
ARG JAVA_RELEASE=17
ARG SPARK_VERSION=4.2.0
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "openjdk-${JAVA_RELEASE}-jre-headless" "python${PYTHON_VERSION}" procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /opt/java \
 && groupadd --system --gid 185 spark \
 && useradd --system --uid 185 --gid 185 --home-dir /opt/spark/work-dir --shell /usr/sbin/nologin spark
COPY --from=build /opt/smartwatch /opt/smartwatch
COPY spark/smartwatch-spark-entrypoint /usr/local/bin/smartwatch-spark-entrypoint
RUN ln -s "/opt/smartwatch/venv/lib/python${PYTHON_VERSION}/site-packages/pyspark" /opt/spark \
 && mkdir -p /opt/spark-work && chown 185:185 /opt/spark-work && ln -s /opt/spark-work /opt/spark/work-dir
ENV JAVA_HOME=/opt/java \
    SPARK_HOME=/opt/spark \
    PATH=/opt/spark/bin:/opt/smartwatch/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/smartwatch/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/smartwatch/venv/bin/python \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Fail the build, not the SparkApplication: the connectors are on the classpath, the jobs
# import on this Python, and spark-submit runs on this Java.
RUN ls /opt/spark/jars/spark-sql-kafka-0-10_*.jar /opt/spark/jars/postgresql-*.jar \
      /opt/spark/jars/hadoop-aws-*.jar >/dev/null \
 && python -c "import pyspark, smartwatch_jobs.main, smartwatch_jobs.landing, smartwatch_jobs.aggregate" \
 && python /opt/smartwatch/jobs/smartwatch_jobs/submit.py land --help >/dev/null \
 && spark-submit --version 2>&1 | grep -q "version ${SPARK_VERSION}"
USER 185:185
WORKDIR /opt/spark/work-dir
# `driver` and `executor` for the pods Spark on Kubernetes starts; any other command as given.
ENTRYPOINT ["smartwatch-spark-entrypoint"]
