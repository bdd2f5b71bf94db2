"""The web console: server-rendered pages (Jinja2 + htmx) for finance, IT, business and risk staff,
with its own users, sessions and role permissions. It calls the same domain services as the API."""
