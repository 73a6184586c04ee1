# syntax=docker/dockerfile:1
# The `smartwatch-spark` image: the pinned Spark image plus
#   - Spark's Kafka connector and the Postgres JDBC driver with their dependencies, from Maven
#     Central with the coordinates build/setup.sh uses, in Spark's jars/ (the classpath of
#     driver and executors); jars Spark already ships are not added twice;
#   - the project's Python package from uv.lock, on the project's Python (PYTHON_VERSION,
#     managed by uv: the Spark image's own python3 may be older), as PYSPARK_PYTHON;
#   - the jobs at /opt/smartwatch/jobs/smartwatch_jobs/, so that
#     local:///opt/smartwatch/jobs/smartwatch_jobs/submit.py is the SparkApplications' entrypoint.
#
# Build from the repository root (skaffold.yaml does):
#   docker build -f build/images/smartwatch-spark.Dockerfile -t smartwatch-spark .
# The build args' defaults equal versions.env (tests/unit/test_versions.py checks them).
# EXTRA_JARS adds Maven coordinates (group:artifact:version, space-separated), e.g. the S3A
# connector org.apache.hadoop:hadoop-aws:<Spark's Hadoop version> for an s3a:// lake.

ARG SPARK_IMAGE=apache/spark:4.2.0-scala2.13-java17-python3-ubuntu
ARG PYTHON_VERSION=3.11
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17

# --- the connector jars --------------------------------------------------------------------
FROM ${MAVEN_IMAGE} AS jars
ARG SPARK_VERSION=4.2.0
ARG SCALA_BINARY_VERSION=2.13
ARG POSTGRES_JDBC_VERSION=42.7.8
ARG EXTRA_JARS=""
WORKDIR /build
RUN <<SH
set -eu
deps=""
for coordinate in \
    "org.apache.spark:spark-sql-kafka-0-10_${SCALA_BINARY_VERSION}:${SPARK_VERSION}" \
    "org.postgresql:postgresql:${POSTGRES_JDBC_VERSION}" \
    ${EXTRA_JARS}; do
  group=$(echo "$coordinate" | cut -d: -f1)
  artifact=$(echo "$coordinate" | cut -d: -f2)
  version=$(echo "$coordinate" | cut -d: -f3)
  deps="$deps<dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency>"
done
cat >pom.xml <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.smartwatch</groupId><artifactId>spark-jars</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>$deps</dependencies>
</project>
POM
mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/jars
SH

# --- uv, from PyPI as build/setup.sh installs it ------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS uv
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# --- the image -----------------------------------------------------------------------------
FROM ${SPARK_IMAGE}
ARG PYTHON_VERSION
USER root

# Connector jars into Spark's classpath, except those Spark already ships (as build/setup.sh
# drops those pyspark ships): one copy of each jar.
COPY --from=jars /jars/ /tmp/jars/
RUN <<SH
set -eu
for jar in /tmp/jars/*.jar; do
  artifact=$(basename "$jar" | sed -E 's/-[0-9][0-9A-Za-z.]*(-[0-9A-Za-z.]+)*\.jar$//')
  if ls "$SPARK_HOME/jars/$artifact"-[0-9]*.jar >/dev/null 2>&1; then
    echo "shipped with Spark: $(basename "$jar")"
  else
    install -m 0644 "$jar" "$SPARK_HOME/jars/"
  fi
done
rm -rf /tmp/jars
SH

# The project's Python and packages. pyspark is left out: Spark's own (/opt/spark/python,
# which spark-submit puts on PYTHONPATH) is the one matching its JVM side.
COPY --from=uv /usr/local/bin/uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/smartwatch/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_PROJECT_ENVIRONMENT=/opt/smartwatch/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1
WORKDIR /tmp/src
COPY pyproject.toml uv.lock README.md versions.env ./
RUN uv python install "${PYTHON_VERSION}" \
 && uv sync --frozen --no-dev --no-install-project --python "${PYTHON_VERSION}" \
      --no-install-package pyspark --no-install-package py4j
COPY services services
COPY jobs jobs
COPY operator operator
RUN uv sync --frozen --no-dev --no-editable --python "${PYTHON_VERSION}" \
      --no-install-package pyspark --no-install-package py4j \
 && mkdir -p /opt/smartwatch/jobs \
 && cp -r jobs/smartwatch_jobs /opt/smartwatch/jobs/ \
 && find /opt/smartwatch/jobs -name __pycache__ -prune -exec rm -rf {} + \
 && cd / && rm -rf /tmp/src /usr/local/bin/uv
WORKDIR /opt/spark/work-dir

ENV PYSPARK_PYTHON=/opt/smartwatch/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/smartwatch/venv/bin/python \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Fail the build, not the SparkApplication: the entrypoint exists, the connector and the
# driver are on the classpath, and the jobs import on this Python against Spark's pyspark.
RUN <<SH
set -eu
test -f /opt/smartwatch/jobs/smartwatch_jobs/submit.py
ls "$SPARK_HOME"/jars/spark-sql-kafka-0-10_*.jar "$SPARK_HOME"/jars/postgresql-*.jar >/dev/null
export PYTHONPATH="$SPARK_HOME/python:$(echo "$SPARK_HOME"/python/lib/py4j-*-src.zip)"
/opt/smartwatch/venv/bin/python -c "import pyspark, smartwatch_jobs.main, smartwatch_jobs.landing, smartwatch_jobs.aggregate"
/opt/smartwatch/venv/bin/python /opt/smartwatch/jobs/smartwatch_jobs/submit.py land --help >/dev/null
SH

# Numeric, so that Kubernetes can verify runAsNonRoot: 185 is the Spark image's spark user.
USER 185
