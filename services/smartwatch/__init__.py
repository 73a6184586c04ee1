"""Smart-watch data pipeline: ingest API, Kafka, Spark landing and aggregation, Postgres."""

__version__ = "0.1.0"
