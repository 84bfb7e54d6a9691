"""The optimisation method (Gatys et al.): VGG19 features, losses, optimisers, schedule.

The job core runs it through jobs/methods/optimize.py; import the modules themselves
(method.py, memory.py, ...): this package imports nothing, so reading its schedule or
memory estimate does not load TensorFlow.
"""
