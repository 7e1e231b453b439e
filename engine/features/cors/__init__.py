"""Built-in CORS with aiohttp-cors: browsers on the listed origins may call the API, with credentials."""
