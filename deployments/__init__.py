"""Expert models as Ray Serve deployments: one deployment per model, each scaling on its own."""

from deployments.runtime import apply_env_defaults

apply_env_defaults()
