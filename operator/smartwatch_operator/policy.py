"""What schedules may run: the images, service accounts and Secrets the operator's
configuration allows (docs/operator.md, "Policy"). Pure logic, no I/O.

Anyone who may create an AggregationSchedule would otherwise run any image, as any service
account, with any Secret of the namespace, through the operator's permissions. A schedule
outside the policy is not run: `violation()` names the field and what the policy allows, which
the operator shows as the schedule's Ready condition (reason PolicyViolation).

Each list holds fnmatch patterns (`registry.example/smartwatch-spark:*`); an empty list
allows anything for that field (the operator run by hand, with no policy). Spark settings that
would choose an image, a service account, Secrets or a pod template behind the policy's back
(`spark.kubernetes.*` keys naming them) are refused whenever the policy restricts anything.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

#: spark.kubernetes.* settings that would bypass the policy (image, identity, Secrets, pods).
GUARDED_CONF = re.compile(r"^spark\.kubernetes\..*(image|serviceaccount|authenticate|secret|"
                          r"podtemplate|volumes)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class RunPolicy:
    images: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()

    @property
    def restricts(self) -> bool:
        return bool(self.images or self.service_accounts or self.secrets)

    def violation(self, spec: Mapping[str, Any]) -> str | None:
        """The first thing `spec` asks that the policy does not allow, naming the field and
        the allowed values; None when the schedule may run."""
        spark = spec.get("spark") or {}
        checks = [("spec.spark.image", spark.get("image"), self.images, "images"),
                  ("spec.spark.serviceAccount", spark.get("serviceAccount"),
                   self.service_accounts, "service accounts"),
                  *((path, name, self.secrets, "Secrets") for path, name in secrets_of(spec))]
        for path, value, allowed, what in checks:
            if allowed and not any(fnmatch.fnmatchcase(str(value), p) for p in allowed):
                return (f"{path} {value!r} is not allowed by the operator's policy "
                        f"(allowed {what}: {', '.join(allowed)})")
        if self.restricts:
            for key in spark.get("sparkConf") or {}:
                if GUARDED_CONF.match(key):
                    return (f"spec.spark.sparkConf {key!r} is not allowed by the operator's "
                            "policy: it would choose an image, an identity, Secrets or a pod "
                            "template outside the policy")
        return None


def secrets_of(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field path, Secret name) of every Secret a schedule's runs would read."""
    postgres = spec.get("postgres") or {}
    if postgres.get("secretName"):
        yield "spec.postgres.secretName", str(postgres["secretName"])
    for i, var in enumerate((spec.get("spark") or {}).get("env") or []):
        ref = ((var.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
        if ref:
            yield f"spec.spark.env[{i}].valueFrom.secretKeyRef.name", str(ref)
