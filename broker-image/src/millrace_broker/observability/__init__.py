"""What a broker tells its operators: Prometheus metrics and structured logs.

- `metrics.py`: counters and histograms the request path feeds (bytes and messages per
  topic, requests per API and listener), with Kafka's JMX names as Strimzi's exporter
  renders them.
- `state_metrics.py`: gauges computed from the broker's state at scrape time (partitions,
  logs, the controller, the Raft quorum, consumer group lag).
- `exposition.py`: the HTTP endpoint, collecting on the event loop's thread.
- `log_format.py`: JSON log lines with request context, and redaction of secrets.
"""
