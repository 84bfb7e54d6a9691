"""The registry of methods: a new method is one module here and one line below."""

from __future__ import annotations

from collections.abc import Mapping

from stylize.engine.errors import InvalidInputError
from stylize.jobs.job import StylizeJob
from stylize.jobs.method import Method
from stylize.jobs.methods.fast import FastMethod
from stylize.jobs.methods.optimize import OptimizeMethod


def registered_methods() -> dict[str, Method]:
    methods: list[Method] = [
        FastMethod(),
        OptimizeMethod(),
    ]
    return {method.name: method for method in methods}


def method_of(job: StylizeJob, methods: Mapping[str, Method]) -> Method:
    try:
        return methods[job.method]
    except KeyError:
        raise InvalidInputError(
            f"method {job.method!r} is not one of {', '.join(methods)}", field="method"
        ) from None
