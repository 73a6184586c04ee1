"""The Spark jobs: landing (Kafka to the Parquet lake) and aggregation."""
