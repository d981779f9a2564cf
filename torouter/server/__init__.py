"""The HTTP server underneath the ASGI app: uvicorn's httptools protocol with ToRouter's limits."""
