"""The stages (planner, selector, executor, responder), the pipeline API and the hugginggpt CLI."""
