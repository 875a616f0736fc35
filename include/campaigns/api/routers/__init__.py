"""One router per resource; ``app.py`` includes every router listed in ``ROUTERS``."""

from include.campaigns.api.routers import analytics, apply, campaigns, enrolments, options, steps, unsubscribe, webhooks

ROUTERS = (campaigns.router, options.router, steps.router, apply.router, enrolments.router, webhooks.router,
           unsubscribe.router, analytics.router)
