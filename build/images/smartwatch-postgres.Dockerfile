# The `smartwatch-postgres` image: Debian's package of the pinned Postgres major
# (POSTGRES_MAJOR), for the chart's embedded Postgres. Its settings are those of the public
# postgres image (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA; uid 999), so either
# image serves the chart; build/images/postgres/smartwatch-postgres lists them.
#
# The build context is this folder's postgres/ files (the dev tooling,
# services/smartwatch_dev/stack/images.py, makes it). BASE: a Debian base of DEBIAN_SUITE's release.
# No BuildKit-only syntax.

ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG POSTGRES_MAJOR=15
# The postgres user first, with the uid the chart runs it as; no cluster made at install time.
# The JIT compiler's LLVM (130 MB of a 200 MB image) is removed: the server runs with jit off.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "postgresql-${POSTGRES_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* \
 && find /usr/lib \( -name 'llvmjit*' -o -name 'libLLVM-*' -o -name 'libz3.so*' \) -delete \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R 999:999 /var/lib/postgresql /var/run/postgresql \
 && ln -s "/usr/lib/postgresql/${POSTGRES_MAJOR}/bin" /opt/postgres-bin
COPY postgres/smartwatch-postgres /usr/local/bin/smartwatch-postgres
RUN /opt/postgres-bin/postgres --version
ENV PATH=/opt/postgres-bin:$PATH \
    PGDATA=/var/lib/postgresql/data/pgdata
USER 999:999
WORKDIR /tmp
EXPOSE 5432
ENTRYPOINT ["smartwatch-postgres"]
