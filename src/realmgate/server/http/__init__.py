"""The HTTP layer: app factory, routes, body parsing and error rendering (Starlette)."""
