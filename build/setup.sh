#!/usr/bin/env bash
# make setup: installs what the project needs, each piece only when it is missing at the
# pinned version (versions.env). Everything goes into one cache folder outside the checkout,
# keyed by version, so fresh clones and CI reuse it:
#   SMARTWATCH_CACHE (default: ${XDG_CACHE_HOME:-~/.cache}/smartwatch)
# Prints one line per step. Safe to run again: a second run downloads and builds nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
set -a; . ./versions.env; set +a
export SMARTWATCH_CACHE="${SMARTWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smartwatch}"
export GOMODCACHE="$SMARTWATCH_CACHE/go/mod" GOCACHE="$SMARTWATCH_CACHE/go/build"
export UV_CACHE_DIR="$SMARTWATCH_CACHE/uv-cache" UV_PYTHON_DOWNLOADS=never
mkdir -p "$SMARTWATCH_CACHE"
total_start=$(date +%s)
downloaded=0

# step NAME CHECK_CMD INSTALL_CMD: runs INSTALL_CMD unless CHECK_CMD succeeds. A check that
# pipes a program's output into grep lets grep read it all (no -q): with pipefail, a program
# killed by SIGPIPE after an early match would fail the check.
step() {
  local name=$1 check=$2 install=$3 t0 log
  if eval "$check" >/dev/null 2>&1; then
    printf 'setup: %-16s cached\n' "$name"
    return
  fi
  t0=$(date +%s)
  log="$SMARTWATCH_CACHE/logs/$name.log"
  mkdir -p "$(dirname "$log")"
  if ! eval "$install" >"$log" 2>&1 || ! eval "$check" >/dev/null 2>&1; then
    printf 'setup: %-16s FAILED, last lines of %s:\n' "$name" "$log" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  downloaded=1
  printf 'setup: %-16s installed in %ss\n' "$name" "$(( $(date +%s) - t0 ))"
}

need_root_apt() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ($*); install them with: sudo apt-get install $*" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# --- system tools the rest needs (Java for Kafka and Spark, Maven for the jars, Go for the
# Kubernetes tools, Postgres server binaries) ------------------------------------------------
step java  'java -version' 'need_root_apt openjdk-17-jre-headless'
step maven 'mvn -v' 'need_root_apt maven'
step wrk   'command -v wrk' 'need_root_apt wrk'  # HTTP load generator of make bench
# headless Chromium renders the demo's report in its test
step chromium 'command -v chromium' 'need_root_apt chromium'
step go    'go version' 'echo "Go is required (go1.24 or newer) to build kube-apiserver, etcd, helm and kind" >&2; false'
pg_bin() { for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" "/usr/lib/postgresql/$POSTGRES_MAJOR/bin"; do
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }; done; return 1; }
step postgres 'pg_bin' "need_root_apt postgresql-$POSTGRES_MAJOR"

# --- Python environment: third-party packages in the cache, keyed by the lock file; the
# checkout's .venv is a thin venv that points at it and at the project's source folders ---
uv_dir="$SMARTWATCH_CACHE/uv-$UV_VERSION"
uv="$uv_dir/bin/uv"
step uv "test -x '$uv' && '$uv' --version | grep ' $UV_VERSION'" \
  "rm -rf '$uv_dir' && python3 -m pip install -q --disable-pip-version-check --no-deps --target '$uv_dir' 'uv==$UV_VERSION'"

env_key=$( (cat uv.lock; echo "$PYTHON_VERSION") | sha256sum | cut -c1-16)
pyenv="$SMARTWATCH_CACHE/python/$env_key"
step python-deps "test -f '$pyenv/.complete'" \
  "rm -rf '$pyenv' && UV_PROJECT_ENVIRONMENT='$pyenv' '$uv' sync --frozen --no-install-project --all-extras --python '$PYTHON_VERSION' && touch '$pyenv/.complete'"

venv="$root/.venv"
link_venv() {
  rm -rf "$venv"
  "$uv" venv -q --python "$pyenv/bin/python" "$venv"
  local site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # The cached environment's site-packages (processed with its own .pth files) ...
  echo "import site; site.addsitedir('$("$pyenv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" >"$site/00-smartwatch-deps.pth"
  # ... and this checkout's source folders.
  printf '%s\n' "$root/services" "$root/jobs" "$root/operator" >"$site/smartwatch-src.pth"
  printf '#!%s\nfrom smartwatch.cli import main\nraise SystemExit(main())\n' "$venv/bin/python" >"$venv/bin/smartwatch"
  chmod +x "$venv/bin/smartwatch"
  for tool in pytest ruff mypy; do ln -sf "$pyenv/bin/$tool" "$venv/bin/$tool"; done
  echo "$env_key" >"$venv/.smartwatch-env"
}
step python-venv "test \"\$(cat '$venv/.smartwatch-env' 2>/dev/null)\" = '$env_key' && '$venv/bin/python' -c 'import smartwatch, pyspark, aiokafka'" link_venv

# --- Kafka broker runtime from Maven Central -------------------------------------------------
maven_copy() { # maven_copy DEST POM_DEPENDENCIES
  local dest=$1 deps=$2 work
  work="$SMARTWATCH_CACHE/build/maven-$(basename "$dest")"
  rm -rf "$dest" "$work" && mkdir -p "$work"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.smartwatch</groupId><artifactId>$(basename "$dest")</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>$deps</dependencies>
</project>
POM
  mvn -q -B -f "$work/pom.xml" -Dmaven.repo.local="$SMARTWATCH_CACHE/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest/libs"
}
dep() { echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"; }
kafka_dir="$SMARTWATCH_CACHE/kafka-$KAFKA_VERSION"
step kafka "test -f '$kafka_dir/.complete'" \
  "maven_copy '$kafka_dir' \"\$(dep org.apache.kafka kafka_2.13 $KAFKA_VERSION)\$(dep org.apache.logging.log4j log4j-slf4j-impl $LOG4J_VERSION)\" && touch '$kafka_dir/.complete'"

# --- Spark's Kafka connector and the Postgres JDBC driver, as local jars -----------------------
# Only jars that pyspark does not already ship are kept, so the classpath has one copy of each.
spark_dir="$SMARTWATCH_CACHE/spark-jars-$SPARK_VERSION-pg$POSTGRES_JDBC_VERSION"
spark_jars() {
  maven_copy "$spark_dir" "$(dep org.apache.spark "spark-sql-kafka-0-10_$SCALA_BINARY_VERSION" "$SPARK_VERSION")$(dep org.postgresql postgresql "$POSTGRES_JDBC_VERSION")"
  local shipped
  shipped=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  for jar in "$spark_dir"/libs/*.jar; do
    local artifact
    artifact=$(basename "$jar" | sed -E 's/-[0-9][0-9A-Za-z.]*(-[0-9A-Za-z.]+)*\.jar$//')
    if compgen -G "$shipped/$artifact-[0-9]*.jar" >/dev/null; then rm "$jar"; fi
  done
  touch "$spark_dir/.complete"
}
step spark-jars "test -f '$spark_dir/.complete'" spark_jars

# --- The ahead-of-time cache local Spark jobs start from (Java 25 or newer; see
# jobs/smartwatch_jobs/aot.py), keyed by Spark version and Java build ---------------------------
aot_file=$("$venv/bin/python" -c 'from smartwatch import toolchain as t; print(t.spark_aot_cache(t.spark_java_home()) or "")')
if [ -n "$aot_file" ]; then
  # The training run gets its Java and jars as settings, as the local CLI hands them to jobs.
  set -a; eval "$("$venv/bin/python" -c 'from smartwatch import toolchain as t; print(t.spark_settings_env())')"; set +a
  step spark-aot "test -f '$aot_file'" "'$venv/bin/python' -m smartwatch_jobs.aot '$aot_file'"
else
  printf 'setup: %-16s skipped (no Java 25 or newer for Spark)\n' spark-aot
fi

# --- Kubernetes tools built from the Go module proxy ------------------------------------------
k8s_dir="$SMARTWATCH_CACHE/k8s-$KUBERNETES_VERSION"
step kube-apiserver "'$k8s_dir/kube-apiserver' --version | grep -x 'Kubernetes v$KUBERNETES_VERSION' && test -x '$k8s_dir/kubectl'" \
  "build/go-tools.sh kube '$k8s_dir'"
etcd_dir="$SMARTWATCH_CACHE/etcd-$ETCD_VERSION"
step etcd "'$etcd_dir/etcd' --version | grep 'etcd Version: $ETCD_VERSION'" "build/go-tools.sh etcd '$etcd_dir'"
helm_dir="$SMARTWATCH_CACHE/helm-$HELM_VERSION"
step helm "'$helm_dir/helm' version --short | grep '^v$HELM_VERSION'" "build/go-tools.sh helm '$helm_dir'"
kind_dir="$SMARTWATCH_CACHE/kind-$KIND_VERSION"
step kind "'$kind_dir/kind' version | grep 'v$KIND_VERSION'" "build/go-tools.sh kind '$kind_dir'"
# The SparkApplication CRD for the local stack's kube-apiserver (the demo's local runner).
spark_crds_dir="$SMARTWATCH_CACHE/spark-operator-crds-$SPARK_OPERATOR_VERSION"
step spark-crds "test -s '$spark_crds_dir/sparkoperator.k8s.io_sparkapplications.yaml'" \
  "build/go-tools.sh spark-operator-crds '$spark_crds_dir'"
helm_docs_dir="$SMARTWATCH_CACHE/helm-docs-$HELM_DOCS_VERSION"
step helm-docs "test -x '$helm_docs_dir/helm-docs'" "build/go-tools.sh helm-docs '$helm_docs_dir'"

# --- kind: a Docker engine and the node image with every image its cluster runs ---------------
# Built only where the kind tier uses the local node image: no Docker engine answers (or
# SMARTWATCH_KIND_NODE_IMAGE=local). Where one answers, the tier uses the public KIND_NODE_IMAGE.
if "$venv/bin/python" -c 'import sys; from smartwatch.stack.cluster import wants_local_images as w; sys.exit(0 if w() else 1)'; then
  if [ "$(id -u)" != 0 ] && ! command -v dockerd >/dev/null; then
    printf 'setup: %-16s skipped (no Docker engine answers, and a private one needs root: the kind tier is skipped)\n' kind-images
  else
    step docker 'command -v dockerd && command -v docker' 'need_root_apt docker.io'
    step debootstrap 'command -v debootstrap' 'need_root_apt debootstrap'
    step libseccomp 'test -f "$(gcc -print-file-name=libseccomp.a)"' 'need_root_apt libseccomp-dev'
    set -a; eval "$("$venv/bin/python" -c 'from smartwatch import toolchain as t; print(t.kind_build_env())')"; set +a
    step kube-node "'$K8S_NODE_DIR/kubelet' --version | grep -x 'Kubernetes v$KUBERNETES_VERSION' && test -x '$K8S_NODE_DIR/kube-proxy'" \
      "build/go-tools.sh kube-node '$K8S_NODE_DIR'"
    step pause "'$K8S_NODE_DIR/pause' -v 2>&1 | grep 'pause.c v'" "build/go-tools.sh pause '$K8S_NODE_DIR'"
    step containerd "'$CONTAINERD_DIR/containerd' --version | grep -w 'v$CONTAINERD_VERSION'" \
      "build/go-tools.sh containerd '$CONTAINERD_DIR'"
    step runc "'$RUNC_DIR/runc' --version | grep '^runc version $RUNC_VERSION'" "build/go-tools.sh runc '$RUNC_DIR'"
    step cni "test -x '$CNI_DIR/ptp' && test -x '$CNI_DIR/portmap'" "build/go-tools.sh cni '$CNI_DIR'"
    step coredns "'$COREDNS_DIR/coredns' -version | grep 'CoreDNS-$COREDNS_VERSION'" "build/go-tools.sh coredns '$COREDNS_DIR'"
    step local-path "test -x '$LOCAL_PATH_DIR/local-path-provisioner'" "build/go-tools.sh local-path '$LOCAL_PATH_DIR'"
    # The embedded object store of the chart's kind values (the smartwatch-objectstore image).
    seaweedfs_dir="$SMARTWATCH_CACHE/seaweedfs-$SEAWEEDFS_REVISION"
    step seaweedfs "test -x '$seaweedfs_dir/weed'" "build/go-tools.sh seaweedfs '$seaweedfs_dir'"
    # spark-operator's controller, for the kind tier's image of it (its public image cannot be
    # pulled there).
    spark_operator_dir="$SMARTWATCH_CACHE/spark-operator-$SPARK_OPERATOR_VERSION"
    step spark-operator "'$spark_operator_dir/spark-operator' version | grep 'v$SPARK_OPERATOR_VERSION'" "build/go-tools.sh spark-operator '$spark_operator_dir'"
    # skaffold, the dev loop on kind (skaffold.yaml's kind profile).
    skaffold_dir="$SMARTWATCH_CACHE/skaffold-$SKAFFOLD_VERSION"
    step skaffold "'$skaffold_dir/skaffold' version | grep -x 'v$SKAFFOLD_VERSION'" "build/go-tools.sh skaffold '$skaffold_dir'"
    step kind-images "test -f '$KIND_IMAGES_DIR/node.tar' && test -f '$KIND_IMAGES_DIR/debian-base.tar'" \
      "'$venv/bin/python' -m smartwatch.stack.engine run --remove --root '$SMARTWATCH_CACHE/build/docker' -- build/kind/images.sh '$KIND_IMAGES_DIR'"
    # Builds of other pins or build/kind files: the newest other one is kept, older ones go.
    ls -dt "$SMARTWATCH_CACHE"/kind-images-v* 2>/dev/null | grep -vx "$KIND_IMAGES_DIR" | tail -n +2 | xargs -r rm -rf
  fi
else
  printf 'setup: %-16s skipped (a Docker engine answers: the kind tier uses %s)\n' kind-images "$KIND_NODE_IMAGE"
fi

if [ "$downloaded" = 0 ]; then
  echo "setup: everything cached in $SMARTWATCH_CACHE; nothing downloaded or built ($(( $(date +%s) - total_start ))s)"
else
  echo "setup: done in $(( $(date +%s) - total_start ))s; cache: $SMARTWATCH_CACHE ($(du -sh "$SMARTWATCH_CACHE" | cut -f1))"
fi
