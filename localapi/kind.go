package localapi

// Kind is what a descriptor passed with a run is, as far as hoistd cares.
// A run takes KindNull, KindPipe, KindFile and KindTerminal; every other
// kind is refused (see CheckRunFiles).
type Kind int

// Kinds of descriptors.
const (
	// KindOther is anything not named below: an eventfd, epoll, timerfd,
	// signalfd, pidfd, inotify or other anonymous descriptor, an O_PATH
	// descriptor, or one that could not be examined.
	KindOther Kind = iota
	// KindNull is /dev/null (character device 1:3).
	KindNull
	// KindPipe is a pipe or a FIFO.
	KindPipe
	// KindFile is a regular file (a memfd included).
	KindFile
	// KindTerminal is the follower side of a pseudo-terminal, /dev/pts/N
	// (character devices of majors 136 to 143, the kernel's Unix 98 pty
	// followers). Other terminals (consoles, serial lines) are KindDevice:
	// a client always passes a pseudo-terminal it made.
	KindTerminal
	// KindSocket is a socket of any family.
	KindSocket
	// KindDirectory is a directory.
	KindDirectory
	// KindDevice is a character or block device other than /dev/null and
	// a pseudo-terminal's follower, a pseudo-terminal's leader included.
	KindDevice
)

// String says what k is in words for an error message: "a socket".
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "/dev/null"
	case KindPipe:
		return "a pipe"
	case KindFile:
		return "a regular file"
	case KindTerminal:
		return "a terminal"
	case KindSocket:
		return "a socket"
	case KindDirectory:
		return "a directory"
	case KindDevice:
		return "a device"
	}
	return "another kind of descriptor"
}

// stdNames name a run's descriptors by position.
var stdNames = [...]string{"stdin", "stdout", "stderr"}
