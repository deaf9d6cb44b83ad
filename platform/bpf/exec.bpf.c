// SPDX-License-Identifier: GPL-2.0
//
// exec.bpf.c reports every exec and every process exit of the tasks in the
// cgroups hoistd watches (a JIT session's or a policy run's, and their
// descendants) to hoistd through a ring buffer. Built by `make bpf` into
// exec.bpf.o, which is committed and embedded in hoistd (platform/execbpf_linux.go).
//
// The filter runs in the kernel: a task is watched when one of its cgroup
// ancestors (on the cgroup v2 hierarchy) is a key of the watched map, so a
// session's processes cannot leave the record by making sub-cgroups, and
// nothing of other users' processes reaches hoistd.

// Only the few kernel types this program reads, with CO-RE relocations:
// the loader matches them by name against the running kernel's BTF, so no
// vmlinux.h is needed.
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27
#define BPF_ANY 0

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	int exit_code;
	struct task_struct *real_parent;
	struct mm_struct *mm;
} __attribute__((preserve_access_index));

// The tracepoints' own records, as /sys/kernel/tracing/events/sched/*/format
// lays them out (stable ABI of these two events).
struct exec_args {
	__u64 common;
	__u32 filename_loc; // __data_loc: offset in the low 16 bits
	__s32 pid;
	__s32 old_pid;
};

struct exit_args {
	__u64 common;
	char comm[16];
	__s32 pid;
	__s32 prio;
	__u8 group_dead;
};

#define MAX_LEVELS 32
#define FILENAME_MAX_LEN 256
#define ARGS_MAX_LEN 2048

#define KIND_EXEC 1
#define KIND_EXIT 2

// header starts every record hoistd reads; keep in step with the layout
// in platform/execbpf_linux.go. An exit is a header alone; an exec is a
// header followed by filename_len bytes of the filename and args_len bytes
// of the argument area, no padding: a record takes the ring's room it
// needs, not the room of the longest argv (most execs carry a few dozen
// bytes of arguments, not 2 KiB).
struct header {
	__u32 kind;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u64 tag;       // the watched cgroup's value: which group this is
	__u64 ktime;     // bpf_ktime_get_boot_ns
	__s32 exit_code; // wait status, for KIND_EXIT
	__u32 filename_len;
	__u32 args_len;
	__u32 args_truncated;
};

// exec_event is an exec record while it is built, in the per-CPU scratch
// map; only its first sizeof(header) + filename_len + args_len bytes are
// copied into the ring. The filename's slot is FILENAME_MAX_LEN so that the
// arguments, which start right after the filename, always fit.
struct exec_event {
	struct header h;
	char data[FILENAME_MAX_LEN + ARGS_MAX_LEN];
};

// watched: cgroup id -> tag. hoistd adds a session's cgroup at its start
// and removes it at its end.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} watched SEC(".maps");

// events is the queue to hoistd. Its pages are kernel memory that hoistd
// maps twice (so that a record that wraps reads in one piece): 1 MiB here is
// 2 MiB of hoistd's RSS. It holds about 4,000 execs and their exits with
// 100 bytes of arguments each, or about 430 with 2 KiB each, before the
// kernel counts records in lost (docs/session-audit.md).
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

// scratch is where an exec's record is built: it is larger than a BPF
// program's stack. A tracepoint program does not nest on its CPU, so one
// entry per CPU is enough.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

// lost counts the events the ring buffer had no room for.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

// watched_tag returns the tag of the nearest watched ancestor cgroup of the
// current task (itself included), or 0.
static __always_inline __u64 watched_tag(void)
{
	for (int level = MAX_LEVELS - 1; level >= 0; level--) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);
		if (id == 0)
			continue;
		__u64 *tag = bpf_map_lookup_elem(&watched, &id);
		if (tag)
			return *tag;
	}
	return 0;
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void fill_header(struct header *h, __u32 kind, __u64 tag)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	h->kind = kind;
	h->pid = bpf_get_current_pid_tgid() >> 32;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->tag = tag;
	h->ktime = bpf_ktime_get_boot_ns();
	h->exit_code = 0;
	h->filename_len = 0;
	h->args_len = 0;
	h->args_truncated = 0;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct exec_args *ctx)
{
	__u64 tag = watched_tag();
	if (!tag)
		return 0;
	__u32 zero = 0;
	struct exec_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e) {
		count_lost();
		return 0;
	}
	fill_header(&e->h, KIND_EXEC, tag);

	unsigned int off = ctx->filename_loc & 0xFFFF;
	long n = bpf_probe_read_kernel_str(e->data, FILENAME_MAX_LEN, (void *)ctx + off);
	__u32 flen = n > 0 ? n - 1 : 0;
	flen &= FILENAME_MAX_LEN - 1; // at most 255: the read keeps a byte for its NUL
	e->h.filename_len = flen;

	// argv as the new program sees it: NUL-separated strings in the arg
	// area of its mm, read in the kernel so that a program that exits at
	// once is recorded all the same.
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = end > start ? end - start : 0;
	if (len > ARGS_MAX_LEN) {
		len = ARGS_MAX_LEN;
		e->h.args_truncated = 1;
	}
	len &= (ARGS_MAX_LEN * 2 - 1); // bounds for the verifier
	if (len > ARGS_MAX_LEN)
		len = ARGS_MAX_LEN;
	if (len > 0 && bpf_probe_read_user(e->data + flen, len, (void *)start) == 0)
		e->h.args_len = len;

	__u64 size = sizeof(struct header) + flen + e->h.args_len;
	if (size > sizeof(*e)) // cannot happen; bounds for the verifier
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, 0) != 0)
		count_lost();
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct exit_args *ctx)
{
	if (!ctx->group_dead)
		return 0; // a thread; the process ends with its last one
	__u64 tag = watched_tag();
	if (!tag)
		return 0;
	struct header *h = bpf_ringbuf_reserve(&events, sizeof(*h), 0);
	if (!h) {
		count_lost();
		return 0;
	}
	fill_header(h, KIND_EXIT, tag);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	h->exit_code = BPF_CORE_READ(task, exit_code);
	bpf_ringbuf_submit(h, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
