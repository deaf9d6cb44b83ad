//go:build linux

package main

import (
	"slices"
	"sync"
	"time"
)

// latencies collects durations from many goroutines; a window of a
// measurement is one reset and one summary.
type latencies struct {
	mu     sync.Mutex
	d      []time.Duration
	errors int
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) fail() {
	l.mu.Lock()
	l.errors++
	l.mu.Unlock()
}

// count is how many durations were collected since the last take.
func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// take returns what was collected since the last take and starts afresh.
func (l *latencies) take() summary {
	l.mu.Lock()
	d, errs := l.d, l.errors
	l.d, l.errors = nil, 0
	l.mu.Unlock()
	return summarize(d, errs)
}

// summary is the distribution of one set of samples, in milliseconds.
type summary struct {
	N      int     `json:"n"`
	Errors int     `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

func summarize(d []time.Duration, errors int) summary {
	s := summary{N: len(d), Errors: errors}
	if len(d) == 0 {
		return s
	}
	d = slices.Clone(d)
	slices.Sort(d)
	// Nearest rank: the p-th percentile is a sample that was seen, never an
	// interpolation between two.
	at := func(p float64) float64 {
		i := int(p*float64(len(d))+0.999999) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	s.P50, s.P90, s.P99, s.Max = at(0.50), at(0.90), at(0.99), ms(d[len(d)-1])
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
