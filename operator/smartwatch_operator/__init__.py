"""The AggregationSchedule operator: cron, windows, run names and SparkApplication bodies."""
