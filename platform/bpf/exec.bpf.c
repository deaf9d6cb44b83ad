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

// event is what hoistd reads; keep in step with execEvent in
// platform/execbpf_linux.go.
struct event {
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
	char filename[FILENAME_MAX_LEN];
	char args[ARGS_MAX_LEN];
};

// watched: cgroup id -> tag. hoistd adds a session's cgroup at its start
// and removes it at its end.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

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

static __always_inline struct event *start_event(__u32 kind, __u64 tag)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->kind = kind;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->tag = tag;
	e->ktime = bpf_ktime_get_boot_ns();
	e->exit_code = 0;
	e->filename_len = 0;
	e->args_len = 0;
	e->args_truncated = 0;
	return e;
}

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct exec_args *ctx)
{
	__u64 tag = watched_tag();
	if (!tag)
		return 0;
	struct event *e = start_event(KIND_EXEC, tag);
	if (!e)
		return 0;

	unsigned int off = ctx->filename_loc & 0xFFFF;
	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	e->filename_len = n > 0 ? n - 1 : 0;

	// argv as the new program sees it: NUL-separated strings in the arg
	// area of its mm, read in the kernel so that a program that exits at
	// once is recorded all the same.
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = end > start ? end - start : 0;
	if (len > ARGS_MAX_LEN) {
		len = ARGS_MAX_LEN;
		e->args_truncated = 1;
	}
	len &= (ARGS_MAX_LEN * 2 - 1); // bounds for the verifier
	if (len > ARGS_MAX_LEN)
		len = ARGS_MAX_LEN;
	if (len > 0 && bpf_probe_read_user(e->args, len, (void *)start) == 0)
		e->args_len = len;
	bpf_ringbuf_submit(e, 0);
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
	struct event *e = start_event(KIND_EXIT, tag);
	if (!e)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->exit_code = BPF_CORE_READ(task, exit_code);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
