"""The job core: a request as plain data (job.py), checked (checks.py), its sources
resolved (resources.py) and run by its method (run.py, methods/), reporting one
:class:`~stylize.jobs.progress.Progress` shape whatever the method.

Transport-neutral: the gRPC edge (server/) and the CLI's ``--local`` mode build the same
:class:`~stylize.jobs.job.StylizeJob` and call :func:`~stylize.jobs.run.run_job`.
"""
