package main

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestHistogramQuantiles reads a window's waits as the report gives them:
// a bucket's upper bound, the last (unbounded) bucket's lower one.
func TestHistogramQuantiles(t *testing.T) {
	h := &histogram{
		buckets: []float64{0, 0.001, 0.01, 0.1, 1, math.Inf(1)},
		counts:  []uint64{90, 8, 1, 0, 1},
	}
	if got := h.quantileMs(0.5); got != 1 {
		t.Errorf("p50 %v ms, want 1 (the first bucket's upper bound)", got)
	}
	if got := h.quantileMs(0.99); got != 100 {
		t.Errorf("p99 %v ms, want 100", got)
	}
	if got := h.quantileMs(1); got != 1000 {
		t.Errorf("max %v ms, want 1000 (the unbounded bucket's lower bound)", got)
	}
	if got := h.countFrom(0.1); got != 1 {
		t.Errorf("%d waits from 100 ms, want 1", got)
	}
	if got := (&histogram{buckets: h.buckets, counts: make([]uint64, 5)}).quantileMs(0.99); got != 0 {
		t.Errorf("p99 of an empty window %v, want 0", got)
	}
}

// TestSchedWindowsAreDeltas takes two windows: the second holds only what
// happened after the first, so a burst of runnable goroutines in the first
// is not counted again.
func TestSchedWindowsAreDeltas(t *testing.T) {
	var w schedWaits
	w.window()
	// More runnable goroutines than threads, for a while: some wait.
	var wg sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	busy := w.window()
	if busy.RunnableMax == 0 {
		t.Fatalf("no wait to run measured while %d goroutines spun on %d threads: %+v", 4*runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0), busy)
	}
	// The collector's CPU: a window holds this collection's, not those
	// before it (several, so that the whole is clearly larger).
	for range 3 {
		runtime.GC()
	}
	w.window()
	runtime.GC()
	one := w.window()
	total := (&schedWaits{}).window() // since the start
	if one.GCCPUSeconds <= 0 || one.GCCPUSeconds >= total.GCCPUSeconds {
		t.Errorf("one collection's window counted %v s of collector CPU, of %v s since the start: want some, and less", one.GCCPUSeconds, total.GCCPUSeconds)
	}
}

// TestWorseSched keeps the worse of two processes' windows.
func TestWorseSched(t *testing.T) {
	a := &schedWindow{RunnableP99: 1, RunnableMax: 50, RunnableOver100ms: 2, GCPauseMax: 3, GCCPUSeconds: 0.5}
	b := &schedWindow{RunnableP99: 4, RunnableMax: 20, RunnableOver100ms: 1, GCPauseMax: 1, GCCPUSeconds: 0.25}
	got := *worseSched(a, b)
	want := schedWindow{RunnableP99: 4, RunnableMax: 50, RunnableOver100ms: 3, GCPauseMax: 3, GCCPUSeconds: 0.75}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if worseSched(nil, b) != b || worseSched(a, nil) != a || worseSched(nil, nil) != nil {
		t.Error("a missing window should leave the other")
	}
}
