"""The job core's front door: check a job from its setup, then run it with its method."""

from __future__ import annotations

import time

from stylize.engine.errors import CancelledError
from stylize.jobs.checks import blamed_on, check_shared
from stylize.jobs.job import JobResult, StylizeJob
from stylize.jobs.method import Controls, JobContext
from stylize.jobs.methods import method_of
from stylize.jobs.progress import ProgressReporter, Report
from stylize.jobs.resources import Engines, decode_image


def check_job(engines: Engines, job: StylizeJob) -> None:
    """Refuse, before any upload is read, what the setup alone shows to be wrong."""
    method = method_of(job, engines.methods)
    check_shared(job, engines.library, engines.limits)
    method.check(job)


def run_job(engines: Engines, job: StylizeJob, report: Report, controls: Controls) -> JobResult:
    """Make the picture with the job's method.

    A job cancelled while it waited for its slot stops here, before decoding anything.
    ``controls.finish`` (methods that iterate) stops early with the best image so far;
    ``controls.pause`` may hold an iterating method between steps.
    """
    started = time.perf_counter()
    if controls.cancelled():
        raise CancelledError("the job was cancelled before it started")
    method = method_of(job, engines.methods)
    with blamed_on("content"):
        content = decode_image(job.content, engines.limits, "content image")
    progress = ProgressReporter(report, method.painting_share)
    return method.run(job, content, JobContext(engines, progress, controls, started))
