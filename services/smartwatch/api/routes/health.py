"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from smartwatch.api.deps import StateDep

router = APIRouter()


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Kafka and the registry answer")
async def readyz(state: StateDep) -> JSONResponse:
    kafka = await state.producer.ready()
    try:
        await run_in_threadpool(state.registry.ping)
        registry = True
    except Exception:
        registry = False
    ok = kafka and registry
    return JSONResponse({"status": "ready" if ok else "not ready", "kafka": kafka,
                         "registry": registry}, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
