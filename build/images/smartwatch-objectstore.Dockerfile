# The `smartwatch-objectstore` image: an S3-compatible object store for the chart's embedded
# lake (objectStore.embedded), SeaweedFS (Apache-2.0) at SEAWEEDFS_REVISION, built by make setup
# from the Go module proxy; curl signs the bucket Job's requests. Entrypoint
# `smartwatch-objectstore` (build/images/objectstore/smartwatch-objectstore lists its settings).
#
# The build context is made by the dev tooling (services/smartwatch_dev/stack/images.py): this
# folder's objectstore/ files plus the `weed` program. BASE: a Debian base of DEBIAN_SUITE's
# release. No BuildKit-only syntax.

ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 objectstore \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin objectstore \
 && mkdir -p /data && chown 10001:10001 /data
COPY weed /usr/local/bin/weed
COPY objectstore/smartwatch-objectstore /usr/local/bin/smartwatch-objectstore
# (executable in the context: a chmod here would copy the 160 MB program into another layer)
RUN weed version
USER 10001:10001
WORKDIR /tmp
EXPOSE 8333
ENTRYPOINT ["smartwatch-objectstore"]
CMD ["server"]
