"""Expert models as Ray Serve deployments: one deployment per model, each scaling on its own."""
