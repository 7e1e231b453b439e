"""Built-in security headers on every response, errors and 304s included."""
