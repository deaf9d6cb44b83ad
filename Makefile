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

# Debian packages (hoist-server, hoist-agent) into dist/, versioned from
# git: Hoist's version, the commit's time and git describe. The packaging
# tool is its own module (packaging/), so nfpm never reaches the product
# binaries. See docs/packages.md.
.PHONY: deb deb-test
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
HOIST_VERSION := $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' version.go)
DEB_VERSION ?= $(HOIST_VERSION)+git$(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(shell git describe --always --dirty | tr -- - .)
deb:
	mkdir -p dist/bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o dist/bin/ ./cmd/hoist ./cmd/hoist-admin ./cmd/hoist-jit ./cmd/hoistd ./cmd/hoist-server
	cd packaging && SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(GO) run ./cmd/mkdeb -bin ../dist/bin -src . -out ../dist -version $(DEB_VERSION)

# Builds the packages twice (a newer build for the upgrade) and tests them
# for real: lintian, systemd-analyze, and a Debian 12 booted with
# systemd-nspawn (as root; the root file system is cached in
# /var/cache/hoist-test/bookworm). About 5 minutes.
deb-test:
	./scripts/deb-test

# The version make deb gives the packages.
.PHONY: deb-version
deb-version:
	@echo $(DEB_VERSION)

# The BPF program of the exec record (platform/bpf/exec.bpf.c), built with
# Debian's clang and committed, so that neither CI nor a package build
# needs clang; platform's TestExecObjectUpToDate checks the committed
# object against this build where clang is present. The DWARF is stripped
# (it names the build directory); the BTF the loader needs stays, its
# source paths relative (-fdebug-compilation-dir), so that the object is
# the same whichever directory builds it.
.PHONY: bpf
BPF_OUT ?= platform/bpf/exec.bpf.o
bpf:
	clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -fdebug-compilation-dir=. -c platform/bpf/exec.bpf.c -o $(BPF_OUT)
	llvm-strip -g $(BPF_OUT)

# The console's terminal player (npm asciinema-player, pinned in the
# script): checks the vendored files against the package and their sums;
# player-update re-vendors it at the pinned version.
.PHONY: player-check player-update
player-check:
	./scripts/vendor-asciinema-player --check
player-update:
	./scripts/vendor-asciinema-player --update

# The fault suite's long form (as root, about 20 minutes): PostgreSQL
# restarts under two replicas, hoist-server killed with SIGKILL, the
# agent's disk full, its clock jumped, its network cut (and lossy, where
# the kernel has netem), and a soak of 1,000 sessions. CI runs the same
# tests in a bounded form (go test ./e2e/ -run TestFault). The figures go
# into docs/reliability.md: grep FIGURE in the output.
.PHONY: faults
faults:
	@HOIST_FAULTS=long $(GO) test -count=1 -timeout 40m -run 'TestFault' -v ./e2e/ > faults.log 2>&1; status=$$?; \
	grep -E '^(=== RUN|--- |\s+FIGURE|\s+\S+_test.go:|PASS|FAIL|ok)' faults.log; echo "(the whole output: faults.log)"; exit $$status
