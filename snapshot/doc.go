// Package snapshot takes the machine's snapshot for a session's change
// report (hoist.Snapshot): installed packages, accounts, sudoers, systemd
// units and their enablement, cron tables, setuid and setgid programs,
// every account's ssh authorized_keys and the checksums of chosen files
// under /etc.
//
// It runs as root and reads paths that others may have shaped (a user's
// home is hostile): every path is resolved beneath the root it was given
// without following a symlink (openat2 with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS, or O_NOFOLLOW on every component where the kernel
// has no openat2); a symlink is recorded as one, never read through. Every
// read is bounded in size, every directory in entries, the whole in time.
package snapshot
