"""Developer and operator tooling: the ``campaigns`` command, demo data, the stats report."""
