"""The gRPC daemon: a thin servicer over the job core, with its limits, security and metrics."""
