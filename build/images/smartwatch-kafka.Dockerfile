# The `smartwatch-kafka` image: a single-node KRaft Kafka broker (the chart's `kafka.mode:
# embedded`) from the pinned broker jars, on Java from Debian's packages; it creates its topics
# once it answers. Entrypoint `smartwatch-kafka` (build/images/kafka/smartwatch-kafka, which
# lists its settings); `smartwatch-kafka ready` is the readiness check.
#
# The build context is made by the dev tooling (`smartwatch cluster images`,
# services/smartwatch_dev/stack/images.py): this folder's kafka/ files plus jars/, the broker's jars
# resolved from Maven Central (org.apache.kafka:kafka_2.13 and kafka-tools at KAFKA_VERSION).
# BASE: a Debian base of the release DEBIAN_SUITE names (where no image can be pulled, the one
# make setup builds by debootstrap). No BuildKit-only syntax.

ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG JAVA_RELEASE=17
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "openjdk-${JAVA_RELEASE}-jre-headless" \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kafka \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kafka \
 && mkdir -p /var/lib/kafka/data && chown 10001:10001 /var/lib/kafka/data
COPY jars/ /opt/kafka/libs/
COPY kafka/smartwatch-kafka /usr/local/bin/smartwatch-kafka
RUN java -cp '/opt/kafka/libs/*' kafka.Kafka --version >/dev/null
USER 10001:10001
WORKDIR /tmp
EXPOSE 9092 9093
ENTRYPOINT ["smartwatch-kafka"]
