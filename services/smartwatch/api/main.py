"""The app factory and its lifespan: one Kafka producer and one registry pool per app;
nothing connects at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from smartwatch import __version__
from smartwatch.api.deps import AppState
from smartwatch.api.metrics import Metrics
from smartwatch.api.producer import EventProducer
from smartwatch.api.routes import admin, events, health, users
from smartwatch.db import migrate
from smartwatch.registry import Registry
from smartwatch.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if not settings.kafka_bootstrap:
        raise RuntimeError("SMARTWATCH_KAFKA_BOOTSTRAP is required by the API")
    if not settings.postgres_dsn:
        raise RuntimeError("SMARTWATCH_POSTGRES_DSN is required by the API (device registry)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.postgres_dsn and settings.kafka_bootstrap
        migrate(settings.postgres_dsn)
        producer = EventProducer(settings.kafka_bootstrap, compression=settings.kafka_compression,
                                 timeout=settings.produce_timeout_seconds,
                                 linger_ms=settings.kafka_linger_ms)
        registry = Registry(settings.postgres_dsn)
        await producer.start()
        app.state.smartwatch = AppState(settings, producer, registry, Metrics())
        try:
            yield
        finally:
            await producer.stop()
            registry.close()

    app = FastAPI(title="smartwatch ingest API", version=__version__, lifespan=lifespan,
                  description="Readings from watches into Kafka. See docs/api.md.")
    app.include_router(events.router)
    app.add_middleware(events.IngestFastPath)
    app.include_router(admin.router)
    app.include_router(users.router)
    app.include_router(health.router)
    return app


def app_from_environment() -> FastAPI:
    """The app of a uvicorn worker process: settings from the environment."""
    return create_app(Settings())
