#!/usr/bin/env bash
# make demo: the local stack (Postgres, Kafka, etcd + kube-apiserver) in .stack/demo, its
# status, then everything stopped again, whatever happens in between.
set -euo pipefail
cd "$(dirname "$0")/.."
sw=".venv/bin/smartwatch"
state=".stack/demo"
trap '$sw stack down --state-dir "$state"' EXIT
$sw stack up --detach --state-dir "$state"
echo
echo "== stack status --json (what scripts and tests read)"
$sw stack status --json --state-dir "$state"
