"""What the service tells its operators: Prometheus metrics, JSON logs with request ids, traces."""
