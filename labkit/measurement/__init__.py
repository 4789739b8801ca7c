"""The plain pipe (a Kafka round trip without labkit's code) and latency statistics: the cluster's warm-up
and the experiments both measure with them."""
