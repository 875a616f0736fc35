"""The admin API's business rules, free of HTTP: each function takes a connection (one transaction) and the
caller's broker ids, and raises a ``ServiceError`` when a rule says no (the routers map it to a status)."""
