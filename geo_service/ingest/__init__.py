"""Reading what programs send: validation, the blur at ingest, batches, context layers."""
