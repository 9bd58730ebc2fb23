"""People: profiles, consent with its proof and history, bulk import, and the erasure of
a person with the keyed hashes that keep them suppressed."""
