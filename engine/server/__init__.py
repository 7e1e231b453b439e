"""Running the engine as a service: gunicorn settings and worker entry, its logger, garbage-collector tuning."""
