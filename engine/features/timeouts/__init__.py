"""Built-in deadlines: no request runs longer than ENGINE_REQUEST_TIMEOUT, none waits forever for a connection."""
