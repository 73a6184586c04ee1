"""The app factory and its lifespan: one Kafka producer and one registry pool per app;
nothing connects at import time."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from smartwatch import __version__
from smartwatch.api.deps import AppState
from smartwatch.api.drain import DrainUnreadBody
from smartwatch.api.ingest import serve as ingest
from smartwatch.api.metrics import Metrics
from smartwatch.api.producer import EventProducer
from smartwatch.api.routes import admin, events, health, users
from smartwatch.db import migrate
from smartwatch.registry import Registry, RegistryUnavailable
from smartwatch.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, producer: EventProducer | None = None,
               registry: Registry | None = None) -> FastAPI:
    """The app. Its lifespan connects to Kafka and Postgres (migrating the schema first),
    unless a `producer` and a `registry` are given: in-process tests hand in fakes."""
    settings = settings or get_settings()
    if producer is None and not settings.kafka_bootstrap:
        raise RuntimeError("SMARTWATCH_KAFKA_BOOTSTRAP is required by the API")
    if registry is None and not settings.postgres_dsn:
        raise RuntimeError("SMARTWATCH_POSTGRES_DSN is required by the API (device registry)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reg = registry if registry is not None else _registry(settings)
        prod = producer if producer is not None else _producer(settings)
        await prod.start()
        app.state.smartwatch = AppState(settings, prod, reg, Metrics())
        # What start-up made (modules, the app, pydantic's validators: hundreds of thousands
        # of objects) lives as long as the process: out of the collector's reach, a full
        # collection walks only what requests made. Before, every full collection paused
        # the event loop for tens of milliseconds: most of /stream's p99 latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await prod.stop()
            reg.close()

    app = IngestApp(title="smartwatch ingest API", version=__version__, lifespan=lifespan,
                  description="Readings from watches into Kafka. See docs/api.md.")
    app.include_router(events.router)
    app.include_router(admin.router)
    app.include_router(users.router)
    app.include_router(health.router)

    async def postgres_unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"{str(exc).strip()}; send the request again"},
                            status_code=503,
                            headers={"Retry-After": str(settings.retry_after_seconds)})

    # Postgres unreachable on any route (the registry, the aggregates): 503 and Retry-After.
    app.add_exception_handler(RegistryUnavailable, postgres_unavailable)
    app.add_exception_handler(psycopg2.OperationalError, postgres_unavailable)
    # Outermost: an answer given before the body was read (413, 401, ...) reaches a client
    # that sends the whole body first (smartwatch.api.drain).
    app.add_middleware(DrainUnreadBody, bound=ingest.DRAIN_FACTOR * settings.max_body_bytes)
    return app


class IngestApp(FastAPI):
    """The app, which serves POST /v1/events and POST /stream itself, ahead of FastAPI's
    middlewares and router (smartwatch.api.ingest.serve); everything else is FastAPI's."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = ingest.ENDPOINTS.get(scope["path"])
            if endpoint is not None:
                await ingest.serve(self.state.smartwatch, endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _registry(settings: Settings) -> Registry:
    assert settings.postgres_dsn
    migrate(settings.postgres_dsn)
    return Registry(settings.postgres_dsn)


def _producer(settings: Settings) -> EventProducer:
    assert settings.kafka_bootstrap
    return EventProducer(settings.kafka_bootstrap, compression=settings.kafka_compression,
                         timeout=settings.produce_timeout_seconds,
                         linger_ms=settings.kafka_linger_ms,
                         client_options=settings.kafka_client_options())


def app_from_environment() -> FastAPI:
    """The app of a uvicorn worker process: settings from the environment."""
    return create_app(Settings())
