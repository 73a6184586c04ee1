#!/usr/bin/env bash
# make setup: installs what the project needs, each piece only when it is missing at the
# pinned version (versions.env). Everything goes into one cache folder outside the checkout,
# keyed by version, so fresh clones and CI reuse it: SMARTWATCH_CACHE (default:
# ${XDG_CACHE_HOME:-~/.cache}/smartwatch). Where each piece lives in it, and what is pruned, is
# said once, in services/smartwatch_dev/toolchain.py.
# Prints one line per step. Safe to run again: a second run downloads and builds nothing.
# A failing step names itself and prints the last lines of its log; any other failing command
# names its line.
set -Eeuo pipefail
trap 'echo "setup: FAILED at build/setup.sh line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
set -a
# shellcheck source=SCRIPTDIR/../versions.env
. ./versions.env
set +a

# export_lines TEXT: exports each NAME=value line of TEXT (values as they are, no quoting).
export_lines() {
  local name value
  while IFS='=' read -r name value; do
    [ -n "$name" ] && export "$name=$value"
  done <<<"$1"
}
# The cache's layout, from the one module that describes it (standard library only, so the
# interpreter that bootstraps uv can run it).
layout=$(PYTHONPATH="$root/services" python3 -m smartwatch_dev.toolchain layout)
export_lines "$layout"
export UV_PYTHON_DOWNLOADS=never
mkdir -p "$SMARTWATCH_CACHE"
total_start=$(date +%s)
built=0

# step NAME CHECK... -- INSTALL...: runs the command INSTALL unless the command CHECK succeeds,
# then requires CHECK to succeed. Both are commands with their arguments, never strings to
# evaluate; pipelines are functions below. The install's output goes to a log, whose last
# lines are printed when it fails.
step() {
  local name=$1 check=() t0 log
  shift
  while [ "$1" != "--" ]; do check+=("$1"); shift; done
  shift
  if "${check[@]}" >/dev/null 2>&1; then
    printf 'setup: %-16s cached\n' "$name"
    return
  fi
  t0=$(date +%s)
  log="$SMARTWATCH_CACHE/logs/$name.log"
  mkdir -p "$(dirname "$log")"
  # In a subshell of its own with errexit on: inside a tested command (`if ! ...`) bash would
  # ignore errexit, and an install function would go on past its first failing command.
  set +e
  (set -e; "$@") >"$log" 2>&1
  local rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    printf 'setup: %-16s FAILED, last lines of %s:\n' "$name" "$log" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
  if ! "${check[@]}" >>"$log" 2>&1; then
    printf 'setup: %-16s FAILED: installed, but its check (%s) fails; see %s\n' "$name" "${check[*]}" "$log" >&2
    exit 1
  fi
  built=1
  printf 'setup: %-16s installed in %ss\n' "$name" "$(( $(date +%s) - t0 ))"
}

# prints PATTERN CMD...: CMD's output (stdout and stderr) has a line matching the extended
# regular expression PATTERN. The output is read whole before grep sees it, so no early exit
# of grep can kill CMD with SIGPIPE.
prints() {
  local pattern=$1 out
  shift
  out=$("$@" 2>&1) || return 1
  grep -Eq -- "$pattern" <<<"$out"
}
executable() { local f; for f in "$@"; do [ -x "$f" ] || return 1; done; }
files() { local f; for f in "$@"; do [ -s "$f" ] || return 1; done; }
fail() { echo "$*" >&2; return 1; }

need_root_apt() {
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ($*); install them with: sudo apt-get install $*" >&2
    return 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# --- system tools the rest needs (Java for Kafka and Spark, Maven for the jars, Go for the
# Kubernetes tools, Postgres server binaries) ------------------------------------------------
step java     java -version -- need_root_apt openjdk-17-jre-headless
step maven    mvn -v -- need_root_apt maven
step wrk      command -v wrk -- need_root_apt wrk  # HTTP load generator of make bench
# headless Chromium renders the demo's report in its test
step chromium command -v chromium -- need_root_apt chromium
step go       go version -- fail "Go is required (go1.24 or newer) to build kube-apiserver, etcd, helm and kind"
pg_bin() {
  local d
  for d in "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")" "/usr/lib/postgresql/$POSTGRES_MAJOR/bin"; do
    executable "$d/initdb" "$d/pg_ctl" "$d/postgres" && return 0
  done
  return 1
}
step postgres pg_bin -- need_root_apt "postgresql-$POSTGRES_MAJOR"

# --- Python environment: third-party packages in the cache, keyed by the lock file; the
# checkout's .venv is a thin venv that points at it and at the project's source folders ---
uv="$UV_DIR/bin/uv"
install_uv() {
  rm -rf "$UV_DIR"
  python3 -m pip install -q --disable-pip-version-check --no-cache-dir --no-deps --target "$UV_DIR" "uv==$UV_VERSION"
}
step uv prints " $UV_VERSION( |\$)" "$uv" --version -- install_uv

python_deps() {
  rm -rf "$PYTHON_ENV_DIR"
  UV_PROJECT_ENVIRONMENT="$PYTHON_ENV_DIR" "$uv" sync --frozen --no-install-project --all-extras --python "$PYTHON_VERSION"
  touch "$PYTHON_ENV_DIR/.complete"
}
step python-deps test -f "$PYTHON_ENV_DIR/.complete" -- python_deps

venv="$root/.venv"
link_venv() {
  local site deps_site tool
  rm -rf "$venv"
  "$uv" venv -q --python "$PYTHON_ENV_DIR/bin/python" "$venv"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  deps_site=$("$PYTHON_ENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # The cached environment's site-packages (processed with its own .pth files) ...
  echo "import site; site.addsitedir('$deps_site')" >"$site/00-smartwatch-deps.pth"
  # ... and this checkout's source folders.
  printf '%s\n' "$root/services" "$root/jobs" "$root/operator" >"$site/smartwatch-src.pth"
  printf '#!%s\nfrom smartwatch.cli import main\nraise SystemExit(main())\n' "$venv/bin/python" >"$venv/bin/smartwatch"
  chmod +x "$venv/bin/smartwatch"
  for tool in pytest ruff mypy shellcheck; do ln -sf "$PYTHON_ENV_DIR/bin/$tool" "$venv/bin/$tool"; done
  echo "$PYTHON_ENV_DIR" >"$venv/.smartwatch-env"
}
venv_current() {
  [ "$(cat "$venv/.smartwatch-env" 2>/dev/null)" = "$PYTHON_ENV_DIR" ] &&
    "$venv/bin/python" -c 'import smartwatch, pyspark, aiokafka' && executable "$venv/bin/shellcheck"
}
step python-venv venv_current -- link_venv

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
  mvn -q -B -f "$work/pom.xml" -Dmaven.repo.local="$MAVEN_REPO" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dest/libs"
}
dep() { echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"; }
kafka_runtime() {
  maven_copy "$KAFKA_DIR" "$(dep org.apache.kafka kafka_2.13 "$KAFKA_VERSION")$(dep org.apache.logging.log4j log4j-slf4j-impl "$LOG4J_VERSION")"
  touch "$KAFKA_DIR/.complete"
}
step kafka test -f "$KAFKA_DIR/.complete" -- kafka_runtime

# --- Spark's Kafka connector and the Postgres JDBC driver, as local jars -----------------------
# Only jars that pyspark does not already ship are kept, so the classpath has one copy of each.
spark_jars() {
  local shipped jar artifact
  maven_copy "$SPARK_JARS_DIR" "$(dep org.apache.spark "spark-sql-kafka-0-10_$SCALA_BINARY_VERSION" "$SPARK_VERSION")$(dep org.postgresql postgresql "$POSTGRES_JDBC_VERSION")"
  shipped=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')
  for jar in "$SPARK_JARS_DIR"/libs/*.jar; do
    artifact=$(basename "$jar" | sed -E 's/-[0-9][0-9A-Za-z.]*(-[0-9A-Za-z.]+)*\.jar$//')
    if compgen -G "$shipped/$artifact-[0-9]*.jar" >/dev/null; then rm "$jar"; fi
  done
  touch "$SPARK_JARS_DIR/.complete"
}
step spark-jars test -f "$SPARK_JARS_DIR/.complete" -- spark_jars

# --- The ahead-of-time cache local Spark jobs start from (Java 25 or newer; see
# services/smartwatch_dev/aot.py), keyed by Spark version and Java build ---------------------------
aot_file=$("$venv/bin/python" -c 'from smartwatch_dev import toolchain as t; print(t.spark_aot_cache(t.spark_java_home()) or "")')
if [ -n "$aot_file" ]; then
  # The training run gets its Java and jars as settings, as the local CLI hands them to jobs.
  spark_env=$("$venv/bin/python" -c 'from smartwatch_dev import toolchain as t; print(t.spark_settings_env())')
  export_lines "$spark_env"
  step spark-aot test -f "$aot_file" -- "$venv/bin/python" -m smartwatch_dev.aot "$aot_file"
else
  printf 'setup: %-16s skipped (no Java 25 or newer for Spark)\n' spark-aot
fi

# --- Kubernetes tools built from the Go module proxy ------------------------------------------
kube_tools() { prints "^Kubernetes v$KUBERNETES_VERSION\$" "$K8S_DIR/kube-apiserver" --version && executable "$K8S_DIR/kubectl"; }
step kube-apiserver kube_tools -- build/go-tools.sh kube "$K8S_DIR"
step etcd      prints "etcd Version: $ETCD_VERSION\$" "$ETCD_DIR/etcd" --version -- build/go-tools.sh etcd "$ETCD_DIR"
step helm      prints "^v$HELM_VERSION\\b" "$HELM_DIR/helm" version --short -- build/go-tools.sh helm "$HELM_DIR"
step kind      prints "v$KIND_VERSION\\b" "$KIND_DIR/kind" version -- build/go-tools.sh kind "$KIND_DIR"
# spark-operator's CRDs: SparkApplication for the local stack's kube-apiserver (the demo's local
# runner), SparkConnect for the kind tier's spark-operator.
step spark-crds files "$SPARK_CRDS_DIR"/sparkoperator.k8s.io_{sparkapplications,sparkconnects}.yaml -- \
  build/go-tools.sh spark-operator-crds "$SPARK_CRDS_DIR"
step helm-docs executable "$HELM_DOCS_DIR/helm-docs" -- build/go-tools.sh helm-docs "$HELM_DOCS_DIR"
step shellcheck prints "^version: " "$venv/bin/shellcheck" --version -- fail "shellcheck is part of the Python environment (uv.lock)"

# --- kind: a Docker engine and the node image with every image its cluster runs ---------------
# Built only where the kind tier uses the local node image: no Docker engine answers (or
# SMARTWATCH_KIND_NODE_IMAGE=local). Where one answers, the tier uses the public KIND_NODE_IMAGE.
kind_mode=$("$venv/bin/python" -c 'from smartwatch_dev.stack.cluster import wants_local_images as w; print("local" if w() else "public")')
if [ "$kind_mode" = local ]; then
  if [ "$(id -u)" != 0 ] && ! command -v dockerd >/dev/null; then
    printf 'setup: %-16s skipped (no Docker engine answers, and a private one needs root: the kind tier is skipped)\n' kind-images
  else
    docker_programs() { command -v dockerd && command -v docker; }
    step docker       docker_programs -- need_root_apt docker.io
    step debootstrap  command -v debootstrap -- need_root_apt debootstrap
    libseccomp() { test -f "$(gcc -print-file-name=libseccomp.a)"; }
    step libseccomp   libseccomp -- need_root_apt libseccomp-dev
    kube_node() { prints "^Kubernetes v$KUBERNETES_VERSION\$" "$K8S_NODE_DIR/kubelet" --version && executable "$K8S_NODE_DIR/kube-proxy"; }
    step kube-node    kube_node -- build/go-tools.sh kube-node "$K8S_NODE_DIR"
    step pause        prints 'pause\.c v' "$K8S_NODE_DIR/pause" -v -- build/go-tools.sh pause "$K8S_NODE_DIR"
    step containerd   prints "\\bv$CONTAINERD_VERSION\\b" "$CONTAINERD_DIR/containerd" --version -- build/go-tools.sh containerd "$CONTAINERD_DIR"
    step runc         prints "^runc version $RUNC_VERSION\$" "$RUNC_DIR/runc" --version -- build/go-tools.sh runc "$RUNC_DIR"
    step cni          executable "$CNI_DIR/ptp" "$CNI_DIR/portmap" -- build/go-tools.sh cni "$CNI_DIR"
    step coredns      prints "CoreDNS-$COREDNS_VERSION\\b" "$COREDNS_DIR/coredns" -version -- build/go-tools.sh coredns "$COREDNS_DIR"
    step local-path   executable "$LOCAL_PATH_DIR/local-path-provisioner" -- build/go-tools.sh local-path "$LOCAL_PATH_DIR"
    # The embedded object store of the chart's kind values (the smartwatch-objectstore image).
    step seaweedfs    executable "$SEAWEEDFS_DIR/weed" -- build/go-tools.sh seaweedfs "$SEAWEEDFS_DIR"
    # spark-operator's controller, for the kind tier's image of it (its public image cannot be
    # pulled there).
    step spark-operator prints "v$SPARK_OPERATOR_VERSION\\b" "$SPARK_OPERATOR_DIR/spark-operator" version -- \
      build/go-tools.sh spark-operator "$SPARK_OPERATOR_DIR"
    # skaffold, the dev loop on kind (skaffold.yaml's kind profile).
    step skaffold     prints "^v$SKAFFOLD_VERSION\$" "$SKAFFOLD_DIR/skaffold" version -- build/go-tools.sh skaffold "$SKAFFOLD_DIR"
    step kind-images  files "$KIND_IMAGES_DIR/node.tar" "$KIND_IMAGES_DIR/debian-base.tar" -- \
      "$venv/bin/python" -m smartwatch_dev.stack.engine run --remove --root "$SMARTWATCH_CACHE/build/docker" -- build/kind/images.sh "$KIND_IMAGES_DIR"
  fi
else
  printf 'setup: %-16s skipped (a Docker engine answers: the kind tier uses %s)\n' kind-images "$KIND_NODE_IMAGE"
fi

# Builds of other pins (kind images, Python environments): the newest other one is kept, older
# ones go (smartwatch_dev.toolchain.prune).
pruned=$("$venv/bin/python" -m smartwatch_dev.toolchain prune)
[ -z "$pruned" ] || printf 'setup: pruned      %s\n' "$pruned"

if [ "$built" = 0 ]; then
  echo "setup: everything cached in $SMARTWATCH_CACHE; nothing downloaded or built ($(( $(date +%s) - total_start ))s)"
else
  echo "setup: done in $(( $(date +%s) - total_start ))s; cache: $SMARTWATCH_CACHE ($(du -sh "$SMARTWATCH_CACHE" | cut -f1))"
fi
