"""`make bench`: latency, throughput, CPU and cold-start numbers for the local stack (see README.md)."""
