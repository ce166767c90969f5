"""Starting or joining Ray the way the experts need it.

Serve's request router asks each replica for its queue length before sending a request and treats an
answer slower than 0.1 s as a sign of trouble, backing off. On a small machine whose cores are busy with
inference, replicas often answer later than that (measured here: 2-core runs stalled for seconds, one
batch of 256 requests took 15.8 s instead of 2.6 s). A 1 s deadline removes the stalls; it must be set in
every process that holds a handle, so it goes into the driver's environment and the job's runtime_env.
"""

from __future__ import annotations

import os
from typing import Any

SERVE_ENV = {"RAY_SERVE_QUEUE_LENGTH_RESPONSE_DEADLINE_S": "1.0", "TOKENIZERS_PARALLELISM": "false"}


def apply_env_defaults() -> None:
    """Put :data:`SERVE_ENV` into this process's environment (existing settings win).

    Serve reads the deadline when ``ray.serve`` is first imported, so this runs when the ``deployments``
    package is imported; code that imports ``ray.serve`` before it should export the variable itself.
    """
    for name, value in SERVE_ENV.items():
        os.environ.setdefault(name, value)


def init_ray(address: str | None = None, **kwargs: Any):
    """``ray.init`` with the environment the experts need, passed on to every worker; returns the context.

    Without an address (here or in ``RAY_ADDRESS``) it starts a new local Ray, never joining whatever
    cluster another program last started on this machine, which plain ``ray.init()`` would do.
    """
    apply_env_defaults()
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    import ray

    runtime_env = dict(kwargs.pop("runtime_env", None) or {})
    runtime_env["env_vars"] = {**{k: os.environ[k] for k in SERVE_ENV}, **runtime_env.get("env_vars", {})}
    kwargs.setdefault("logging_level", "ERROR")
    kwargs.setdefault("include_dashboard", False)
    return ray.init(address=address, runtime_env=runtime_env, **kwargs)


def quiet_serve_logs() -> None:
    """Keep Serve's INFO lines ("Application ... is ready") out of a command's own output (live tables)."""
    import logging

    logging.getLogger("ray.serve").addFilter(lambda record: record.levelno >= logging.WARNING)


def start_serve(http: bool = False, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Start Serve (idempotent); without ``http`` no proxy binds a port (tests, batch jobs)."""
    from ray import serve

    if http:
        serve.start(http_options={"host": host, "port": port}, logging_config={"enable_access_log": False})
    else:
        serve.start(proxy_location="Disabled", logging_config={"enable_access_log": False})
