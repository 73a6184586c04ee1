"""The dev tooling: what runs on a developer's machine or in CI, never in a pod.

`stack` (the local stack, the Docker engine, the kind cluster, CRDs for tests, the local
SparkApplication runner), `toolchain` (the set-up cache), `simulate` (the fleet simulator),
`demo` (`make demo`) and `aot` (training Spark's ahead-of-time JVM cache for `make setup`).
It is not part of the `smartwatch` wheel, so no image holds it; a checkout's virtualenv finds
it through `services/` on its path (build/setup.sh). The runtime packages never import it
(tests/unit/test_layers.py).
"""
