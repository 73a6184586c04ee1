# The spark-operator image of the kind tier: spark-operator's controller at
# SPARK_OPERATOR_VERSION, built by make setup from its Go module, on the project's Spark image,
# whose spark-submit it runs (SPARK_HOME). Users install spark-operator with its official chart
# (docs/deploy.md); this image exists because no image can be pulled where the tests run.
#
# The build context is made by the dev tooling (services/smartwatch_dev/stack/images.py): the
# `spark-operator` program. BASE: the smartwatch-spark image. No BuildKit-only syntax.

ARG BASE=smartwatch-spark:0.1.0
FROM ${BASE}
COPY spark-operator /usr/local/bin/spark-operator
RUN spark-operator version >/dev/null
USER 185:185
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/spark-operator"]
