#!/bin/sh
# skaffold's custom build of one of the project's images (skaffold.yaml): run by skaffold in
# the checkout with IMAGE (the reference to build) and PUSH_IMAGE set.
#   build/images/skaffold-build.sh NAME
# The checkout's own sources build it (PYTHONPATH), with the Python of its .venv (make setup)
# or SMARTWATCH_PYTHON.
set -eu
: "${IMAGE:?skaffold-build.sh runs under skaffold, which sets IMAGE}"
push=
if [ "${PUSH_IMAGE:-false}" = true ]; then push=--push; fi
PYTHONPATH="$PWD/services${PYTHONPATH:+:$PYTHONPATH}" \
  exec "${SMARTWATCH_PYTHON:-$PWD/.venv/bin/python}" -m smartwatch cluster image "$1" --tag "$IMAGE" $push
