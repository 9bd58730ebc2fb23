"""Journey state: enrollments, their stage history and timers, written from the engine's
decisions in batches (`ingest`, `writer`), moved by hand (`manual`) or by a version
migration (`migrating`)."""
