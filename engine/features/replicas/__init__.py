"""Built-in read-your-writes over read replicas: the consistency token a write hands its client."""
