"""Built-in input limits on JSON bodies: nesting depth and array length, refused with 422."""
