"""The ticketing system's domain: the spec's names, the venue, partitioning, the messages and a booking."""
