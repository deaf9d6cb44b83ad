# Hoist's benchmarks. Everything else is in scripts/ (see README.md).

.PHONY: bench bench-quick

# Runs every benchmark and the load harness (as root, about 20 minutes) and
# rewrites BENCHMARKS.md from that one run.
bench:
	go run ./bench

# A small run of the load harness, for trying changes: the report is left
# alone, the figures go to bench/results/run.json.
bench-quick:
	go run ./bench -only capacity,footprint -stores sqlite -steps 1,100,1000 -window 5s -footprint 10s -push-samples 20 -approvals-at 100 -approvals 200
