#!/usr/bin/env bash
# Elevation latency: "hoist run -- /bin/true" against "sudo -n /bin/true"
# (NOPASSWD for the same user) and plain /bin/true, in one hyperfine batch.
# Needs root (it makes a user, a sudoers entry and runs hoistd); cleans up.
# Output: bench/results/elevation.md and .json (hyperfine's table and every
# run's time), and startup.json: hoist's start-up against an empty Go
# program and /bin/true, the floor under any Go client on this machine, and
# hoist-admin's (hoist admin, help topics and usage errors), which hoist
# execs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine sudo >/dev/null

work=$(mktemp -d /tmp/hoist-bench-XXXX); chmod 755 "$work"
user=hoist-bench-$$
mount=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)
cleanup() {
  [ -n "${hoistd_pid:-}" ] && kill "$hoistd_pid" 2>/dev/null && wait "$hoistd_pid" 2>/dev/null || true
  rm -f "/etc/sudoers.d/$user"
  userdel "$user" 2>/dev/null || true
  for d in "$mount"/hoist-bench-$$/*/ "$mount/hoist-bench-$$"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "$work/" ./cmd/hoist ./cmd/hoist-admin ./cmd/hoist-jit ./cmd/hoistd
mkdir "$work/empty"
printf 'package main\n\nfunc main() {}\n' > "$work/empty/main.go"
(cd "$work/empty" && go mod init empty >/dev/null 2>&1 && CGO_ENABLED=0 go build -o "$work/empty-go" .)
useradd --no-create-home --shell /bin/sh --user-group "$user"
mkdir -p "$work/out"; chown "$user" "$work/out"
echo "$user ALL=(root) NOPASSWD: /bin/true" > "/etc/sudoers.d/$user"; chmod 440 "/etc/sudoers.d/$user"
"$work/hoistd" run --state "$work/state" --socket "$work/sock" --cgroup-root "$mount/hoist-bench-$$" --autostart-dir= >"$work/hoistd.log" 2>&1 &
hoistd_pid=$!
for _ in $(seq 100); do [ -S "$work/sock" ] && break; sleep 0.05; done
"$work/hoistd" grant "$user" --for 1h --socket "$work/sock" >/dev/null

mkdir -p bench/results
su "$user" -s /bin/sh -c "cd /tmp && HOIST_SOCKET=$work/sock hyperfine -N --warmup 20 --runs ${RUNS:-300} \
  --export-markdown $work/out/elevation.md --export-json $work/out/elevation.json \
  -n 'hoist run -- /bin/true' '$work/hoist run -- /bin/true' \
  -n 'sudo -n /bin/true' 'sudo -n /bin/true' \
  -n '/bin/true' '/bin/true'"
su "$user" -s /bin/sh -c "cd /tmp && hyperfine -N --warmup 20 --runs ${RUNS:-300} --export-json $work/out/startup.json \
  -n 'hoist --help' '$work/hoist --help' \
  -n 'empty Go program' '$work/empty-go' \
  -n '/bin/true' '/bin/true' \
  -n 'hoist-admin --help' '$work/hoist-admin --help'" >/dev/null
cp "$work/out/elevation.md" "$work/out/elevation.json" "$work/out/startup.json" bench/results/
cat bench/results/elevation.md
