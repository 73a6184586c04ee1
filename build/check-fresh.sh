#!/usr/bin/env bash
# make check-fresh: set-up and the tests as a new machine runs them.
#
# Clones this checkout (its commit, plus its uncommitted changes and new files that git does
# not ignore) into a temporary folder, with ../shared beside the clone when the checkout has
# one. Then, with an empty SMARTWATCH_CACHE, and with HOME, XDG_CACHE_HOME, GOPATH, GOMODCACHE,
# GOCACHE, pip's cache and Maven's repository pointed at empty temporary folders:
#   1. make setup                        (fails the check if set-up fails)
#   2. make setup again                  (fails the check if it downloads or builds anything)
#   3. the fastest test of each tier     (CHECK_FRESH_TARGETS="demo test" runs those make
#                                         targets instead, in that order)
#   4. fails the check if anything landed in the user's default Go, Maven or pip caches.
# The temporary folder is removed when the check passes and kept, with its logs, when it fails.
# CHECK_FRESH_DIR names the folder to use instead of a new one under ${TMPDIR:-/tmp}.
set -Eeuo pipefail
trap 'echo "check-fresh: FAILED at build/check-fresh.sh line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=${CHECK_FRESH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/smartwatch-fresh.XXXXXX")}
mkdir -p "$tmp"
clone="$tmp/checkout"
say() { printf 'check-fresh: %s\n' "$*"; }
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
fail() {
  say "FAILED: $*"
  say "kept $tmp (logs in $tmp/logs)"
  exit 1
}

# --- the clone ---------------------------------------------------------------------------------
rm -rf "$clone"
git clone -q --no-hardlinks "$root" "$clone"
git -C "$root" diff HEAD --binary >"$tmp/changes.patch"
if [ -s "$tmp/changes.patch" ]; then git -C "$clone" apply --whitespace=nowarn "$tmp/changes.patch"; fi
(cd "$root" && git ls-files --others --exclude-standard -z | xargs -0 -r cp --parents -t "$clone")
if [ -d "$root/../shared" ] && [ ! -e "$tmp/shared" ]; then ln -s "$(cd "$root/../shared" && pwd)" "$tmp/shared"; fi
say "clone of $(git -C "$root" rev-parse --short HEAD)$( [ -s "$tmp/changes.patch" ] && echo ' with uncommitted changes') in $clone"

# --- a new machine's caches: all empty ---------------------------------------------------------
home="$tmp/home" defaults="$tmp/default-caches"
rm -rf "$home" "$defaults" "$tmp/cache" "$tmp/logs"
mkdir -p "$home" "$defaults"/{gopath,gomodcache,gocache,m2,pip} "$tmp/logs"
export HOME="$home" XDG_CACHE_HOME="$home/.cache" SMARTWATCH_CACHE="$tmp/cache"
export GOPATH="$defaults/gopath" GOMODCACHE="$defaults/gomodcache" GOCACHE="$defaults/gocache"
export MAVEN_OPTS="-Dmaven.repo.local=$defaults/m2" PIP_CACHE_DIR="$defaults/pip"
unset SMARTWATCH_KIND_NODE_IMAGE

run() { # run NAME CMD...: CMD in the clone, its output in logs/NAME.log and on the terminal
  local name=$1 t0
  shift
  t0=$(date +%s)
  say "$name: $*"
  if ! (cd "$clone" && "$@") 2>&1 | tee "$tmp/logs/$name.log"; then
    fail "$name ($*) after $(elapsed "$t0"); its log: $tmp/logs/$name.log"
  fi
  say "$name passed in $(elapsed "$t0"); cache: $(du -sh "$SMARTWATCH_CACHE" | cut -f1)"
}

run setup make setup
run setup-again make setup
grep -q '^setup: everything cached in .*nothing downloaded or built' "$tmp/logs/setup-again.log" ||
  fail "the second make setup built something: $(grep 'installed in' "$tmp/logs/setup-again.log" | tr '\n' ' ')"

if [ -n "${CHECK_FRESH_TARGETS:-}" ]; then
  read -r -a targets <<<"$CHECK_FRESH_TARGETS"
  for target in "${targets[@]}"; do run "make-$target" make "$target"; done
else
  # The fastest test of each tier, and the checks that set-up left what tests look for. The
  # kind one builds a Go program and an image on the cluster's engine, so it also shows that
  # go, its caches and the engine are found without a user's own settings.
  run tests .venv/bin/python -m pytest -p no:cacheprovider \
    tests/unit/test_versions.py tests/unit/smartwatch/test_toolchain.py \
    tests/integration/test_smoke_spark.py::test_spark_reads_topic_through_kafka_connector \
    tests/k8s/test_smoke_kube.py::test_crd_and_custom_object_round_trip \
    tests/kind/test_kind_cluster.py::test_the_deployment_of_an_image_built_here_runs
  if grep -Eq '[0-9]+ skipped' "$tmp/logs/tests.log"; then
    fail "a test was skipped on a fresh machine: $(grep -E '^SKIPPED' "$tmp/logs/tests.log" | tr '\n' ' ')"
  fi
fi
(cd "$clone" && .venv/bin/smartwatch stack leftovers --state-dir .stack/test) >"$tmp/logs/leftovers.log" 2>&1 ||
  fail "the tests left processes or clusters behind: $(cat "$tmp/logs/leftovers.log")"

# --- nothing in a user's default caches ---------------------------------------------------------
# Only the folders that exist are listed: find fails on a missing one, and most are missing.
used=""
for dir in "$defaults"/* "$home/go" "$home/.m2" "$home/.cache/pip" "$home/.cache/go-build"; do
  if [ -d "$dir" ]; then
    used+=$(find "$dir" -mindepth 1 -maxdepth 1 | sed "s|^$tmp/||" | tr '\n' ' ')
  fi
done
[ -z "$used" ] || fail "set-up or the tests wrote into a user's default caches: $used"

say "passed; cache after it all: $(du -sh "$SMARTWATCH_CACHE" | cut -f1)"
rm -rf "$tmp"
