"""make demo: the whole pipeline on the local stack, its reconciliation and its report (dev tooling)."""
