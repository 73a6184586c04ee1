"""Ingest: POST /v1/events and POST /stream, served as plain ASGI ahead of FastAPI.

FastAPI's and Starlette's request path (routing, dependency solving, middlewares, the Request
and Response objects) cost more than a one-event request's own work, so the app
(`smartwatch.api.main.IngestApp`) hands these two paths to `serve.serve` directly. The modules,
in the order a request meets them:

- `serve`: load shedding (429 before a body is read), authentication and the error answers;
- `body`: the request body from ASGI messages, bounded by the byte limit;
- `paths`: the one-event fast path, the general path (a batch) and a streamed /stream body,
  each producing to Kafka;
- `parse`: pure logic: media types, splitting a body into events, validation, dead letters.

`smartwatch.api.routes.events` only documents the endpoints in OpenAPI and routes a request
that reaches FastAPI's router to `serve`.
"""
