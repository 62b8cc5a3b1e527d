"""Spike alerts (issue 19): daily series, rules evaluated at ingest, drafted alerts a manager
confirms, and what each audience is shown of them."""
