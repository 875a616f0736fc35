"""Request and response bodies of the admin API (pydantic 2), one module per resource."""
