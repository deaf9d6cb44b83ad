package main

import (
	"math"
	"runtime/metrics"
	"sync"
)

// schedWindow is how long a process's goroutines waited to run over one
// measuring window, by its own Go runtime: a latency measured by a fleet
// process includes the time its goroutine sat runnable without a core (or
// stopped for a collection), which is the harness's share of a tail, not
// the server's. Times are a histogram bucket's upper bound, in ms.
type schedWindow struct {
	// RunnableP99/Max: goroutines ready to run, waiting for a thread.
	RunnableP99 float64 `json:"runnable_p99_ms"`
	RunnableMax float64 `json:"runnable_max_ms"`
	// RunnableOver100ms counts the waits of 100 ms or more.
	RunnableOver100ms uint64 `json:"runnable_over_100ms"`
	// GCPauseMax is the longest stop of every goroutine for the collector.
	GCPauseMax float64 `json:"gc_pause_max_ms"`
	// GCCPUSeconds is the collector's CPU in the window (marking assists,
	// dedicated marking and pauses; not the idle-time marking).
	GCCPUSeconds float64 `json:"gc_cpu_seconds"`
}

// schedWaits turns the runtime's cumulative histograms into windows: each
// window is what happened since the previous one was taken.
type schedWaits struct {
	mu   sync.Mutex
	last []metrics.Sample // nil before the first window
}

var schedMetricNames = []string{"/sched/latencies:seconds", "/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/mark/assist:cpu-seconds", "/cpu/classes/gc/mark/dedicated:cpu-seconds", "/cpu/classes/gc/pause:cpu-seconds"}

// window returns what happened since the last call (since the process
// started, the first time).
func (w *schedWaits) window() schedWindow {
	now := make([]metrics.Sample, len(schedMetricNames))
	for i, name := range schedMetricNames {
		now[i].Name = name
	}
	metrics.Read(now)
	w.mu.Lock()
	defer w.mu.Unlock()
	var out schedWindow
	if h := histDelta(now[0], w.last, 0); h != nil {
		out.RunnableP99 = h.quantileMs(0.99)
		out.RunnableMax = h.quantileMs(1)
		out.RunnableOver100ms = h.countFrom(0.1)
	}
	if h := histDelta(now[1], w.last, 1); h != nil {
		out.GCPauseMax = h.quantileMs(1)
	}
	for i := 2; i < 5; i++ {
		if now[i].Value.Kind() != metrics.KindFloat64 {
			continue
		}
		v := now[i].Value.Float64()
		if w.last != nil {
			v -= w.last[i].Value.Float64()
		}
		out.GCCPUSeconds += v
	}
	w.last = now
	return out
}

// histogram is a window's counts over the runtime's bucket boundaries.
type histogram struct {
	counts  []uint64
	buckets []float64 // len(counts)+1 boundaries, in seconds
}

// histDelta is sample now less the same sample in last (nil: nothing to
// take away); nil when the runtime has no such histogram.
func histDelta(now metrics.Sample, last []metrics.Sample, i int) *histogram {
	if now.Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := now.Value.Float64Histogram()
	out := &histogram{counts: append([]uint64(nil), h.Counts...), buckets: h.Buckets}
	if last != nil && last[i].Value.Kind() == metrics.KindFloat64Histogram {
		for j, c := range last[i].Value.Float64Histogram().Counts {
			if j < len(out.counts) {
				out.counts[j] -= c
			}
		}
	}
	return out
}

// quantileMs is the upper bound of the bucket holding quantile q (1: the
// highest bucket with a count), in ms; 0 for an empty window. The last
// bucket's upper bound is infinite, so its lower one is given.
func (h *histogram) quantileMs(q float64) float64 {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for j, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			upper := h.buckets[j+1]
			if math.IsInf(upper, 1) {
				upper = h.buckets[j]
			}
			return upper * 1000
		}
	}
	return 0
}

// countFrom counts what fell in buckets starting at or above seconds.
func (h *histogram) countFrom(seconds float64) uint64 {
	var n uint64
	for j, c := range h.counts {
		if h.buckets[j] >= seconds {
			n += c
		}
	}
	return n
}

// worseSched is the worse of a and b, field by field; nil when both are.
func worseSched(a, b *schedWindow) *schedWindow {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return &schedWindow{
		RunnableP99: max(a.RunnableP99, b.RunnableP99), RunnableMax: max(a.RunnableMax, b.RunnableMax),
		RunnableOver100ms: a.RunnableOver100ms + b.RunnableOver100ms,
		GCPauseMax:        max(a.GCPauseMax, b.GCPauseMax), GCCPUSeconds: a.GCCPUSeconds + b.GCCPUSeconds,
	}
}
