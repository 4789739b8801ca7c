"""What the notebooks and the benchmark measure with: loads, latency, readers, forwarders, faults.
Built on the core (and `labkit.lab`); nothing in the core imports it."""
