package agent

import (
	"net"
	"os"
	"sync"

	"github.com/hoist-jit/hoist/localapi"
)

// Closing what callers passed. hoistd disarms every descriptor that
// arrives (localapi.Disarm), so closing one is immediate — except where
// the kernel makes the closer wait all the same: a file on a FUSE mount
// whose server does not answer, a socket queued deeper than Disarm reaches.
// So each user's descriptors are closed by that user's own few goroutines,
// and a user with too many closes pending gets no new connection until
// they are done: one user's stuck closes cost hoistd a bounded number of
// threads and descriptors, and nobody else anything.
const (
	// closersPerUser is how many closes of one user may be under way.
	closersPerUser = 4
	// maxPendingCloses is how many batches (a request's descriptors) of one
	// user may wait to be closed before their connections are refused: as
	// many as the user may have connections, so that a burst of honest runs
	// on a busy machine is never refused (32 was, under load), while stuck
	// closes hold at most this many batches of three descriptors.
	maxPendingCloses = maxConnsPerUser
)

type closeQueue struct {
	mu    sync.Mutex
	byUID map[int]*userCloses
}

type userCloses struct {
	running int
	queue   [][]*os.File
}

// closeLater closes files on uid's budget and never waits.
func (a *Agent) closeLater(uid int, files []*os.File) {
	if len(files) == 0 {
		return
	}
	q := &a.closes
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.byUID[uid]
	if u == nil {
		u = &userCloses{}
		q.byUID[uid] = u
	}
	if u.running >= closersPerUser {
		u.queue = append(u.queue, files)
		return
	}
	u.running++
	go a.closeAll(uid, files)
}

// closeAll closes one batch, then whatever uid queued meanwhile.
func (a *Agent) closeAll(uid int, files []*os.File) {
	for files != nil {
		for _, f := range files {
			f.Close()
		}
		q := &a.closes
		q.mu.Lock()
		u := q.byUID[uid]
		files = nil
		if len(u.queue) > 0 {
			files, u.queue = u.queue[0], u.queue[1:]
		} else {
			u.running--
			if u.running == 0 {
				delete(q.byUID, uid)
			}
		}
		q.mu.Unlock()
	}
}

// closesPending reports whether uid has too many closes under way or
// waiting to take another connection.
func (a *Agent) closesPending(uid int) bool {
	q := &a.closes
	q.mu.Lock()
	defer q.mu.Unlock()
	u := q.byUID[uid]
	return u != nil && u.running+len(u.queue) >= maxPendingCloses
}

// closeConn closes a connection without waiting on what its caller left in
// it: reads are shut first, so nothing more can be queued, then what is
// queued (descriptors sent with frames hoistd never read) is disarmed and
// closed, and only then the connection.
func closeConn(c *net.UnixConn) {
	_ = c.CloseRead()
	localapi.DrainConn(c)
	_ = c.Close()
}
