"""Built-in health checks for orchestrators and load balancers."""
