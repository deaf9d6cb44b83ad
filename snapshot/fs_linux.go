package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Bounds of what one snapshot reads.
const (
	// MaxSmallFile bounds a file read whole (passwd, a crontab, an
	// authorized_keys).
	MaxSmallFile = 1 << 20
	// MaxHashed bounds a file hashed: a larger one is fingerprinted by its
	// size and times instead.
	MaxHashed = 16 << 20
	// MaxStatus bounds dpkg's status file.
	MaxStatus = 64 << 20
	// MaxDirEntries bounds the entries read from one directory.
	MaxDirEntries = 20_000
)

// errNotRegular marks a path that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// tree reads files beneath a root directory, never following a symlink.
type tree struct {
	root int // O_PATH descriptor of the root
	// noOpenat2 walks paths component by component with O_NOFOLLOW
	// (kernels before 5.6, and tests of that path).
	noOpenat2 bool
	// buf is the one buffer every hash and readlink reads into.
	buf []byte
	// rootPath is the root's path, and stalling the mounts beneath which
	// homes are not read (see DefaultStallingFileSystems).
	rootPath string
	stalling []mount
}

func openTree(root string, noOpenat2 bool) (*tree, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &tree{root: fd, noOpenat2: noOpenat2, buf: make([]byte, 64<<10), rootPath: root}, nil
}

func (t *tree) close() { unix.Close(t.root) }

// rel turns an absolute path of the snapshot into one relative to the
// root; "." for the root itself.
func rel(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// openAt opens name relative to dir with flags, beneath dir and through
// no symlink: a symlink anywhere on the way (the last component included)
// is ELOOP, a way out of dir is EXDEV. O_NONBLOCK is added to every open
// that is not O_PATH (which opens nothing), so that a FIFO planted where a
// file was expected never blocks the open.
func (t *tree) openAt(dir int, name string, flags int) (int, error) {
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NONBLOCK | unix.O_NOCTTY // openat2 takes no others with O_PATH
	}
	if !t.noOpenat2 {
		fd, err := unix.Openat2(dir, name, &unix.OpenHow{
			Flags:   uint64(flags),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if !errors.Is(err, unix.ENOSYS) {
			return fd, err
		}
		t.noOpenat2 = true
	}
	return walkOpen(dir, name, flags)
}

// walkOpen is openAt without openat2: each directory on the way is opened
// with O_NOFOLLOW, and ".." is refused.
func walkOpen(dir int, name string, flags int) (int, error) {
	if name == "." {
		return unix.Openat(dir, ".", flags&^unix.O_NOFOLLOW, 0)
	}
	parts := strings.Split(name, "/")
	cur, err := unix.Dup(dir)
	if err != nil {
		return -1, err
	}
	for i, p := range parts {
		if p == ".." || p == "" || p == "." {
			unix.Close(cur)
			return -1, unix.EXDEV
		}
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags
		}
		next, err := unix.Openat(cur, p, f, 0)
		if errors.Is(err, unix.ENOTDIR) && i < len(parts)-1 && isSymlinkAt(cur, p) {
			err = unix.ELOOP // as openat2 says it
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// isSymlinkAt reports whether name in dir is a symlink.
func isSymlinkAt(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// open opens the absolute path p of the snapshot.
func (t *tree) open(p string, flags int) (int, error) { return t.openAt(t.root, rel(p), flags) }

// openFile opens a regular file for reading and returns it with its
// status; anything else (a FIFO, a device, a directory) is errNotRegular.
func (t *tree) openFile(dir int, name string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := t.openAt(dir, name, unix.O_RDONLY)
	if err != nil {
		return nil, st, err
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, st, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, st, errNotRegular
	}
	return os.NewFile(uintptr(fd), name), st, nil
}

// readSmall reads the regular file p whole, up to MaxSmallFile bytes; a
// larger file is an error.
func (t *tree) readSmall(p string) ([]byte, error) {
	f, _, err := t.openFile(t.root, rel(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSmallFile+1))
	if err == nil && len(data) > MaxSmallFile {
		err = fmt.Errorf("%s is larger than %d bytes", p, MaxSmallFile)
	}
	return data, err
}

// entry is a directory entry as lstat sees it.
type entry struct {
	name string
	st   unix.Stat_t
}

// listDir returns the entries of directory p (at most MaxDirEntries; more
// reports truncated) with their lstat, and the directory's descriptor for
// opening them (the caller closes it). A p that is a symlink is ELOOP.
func (t *tree) listDir(p string) (dir int, out []entry, truncated bool, err error) {
	return t.listDirAt(t.root, rel(p))
}

func (t *tree) listDirAt(parent int, name string) (dir int, out []entry, truncated bool, err error) {
	fd, err := t.openAt(parent, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return -1, nil, false, err
	}
	keep, err := unix.Dup(fd)
	if err != nil {
		unix.Close(fd)
		return -1, nil, false, err
	}
	f := os.NewFile(uintptr(fd), name)
	names, rerr := f.Readdirnames(MaxDirEntries + 1)
	f.Close()
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		unix.Close(keep)
		return -1, nil, false, rerr
	}
	if len(names) > MaxDirEntries {
		names, truncated = names[:MaxDirEntries], true
	}
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(keep, n, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			out = append(out, entry{n, st})
		}
	}
	return keep, out, truncated, nil
}

// fingerprint describes the entry e of dir for a snapshot: a regular
// file's hash, mode and owner; a symlink's target (not followed); another
// type by name. Hashing is bounded by MaxHashed.
func (t *tree) fingerprint(dir int, e entry) string {
	own := fmt.Sprintf("mode=%04o uid=%d gid=%d", e.st.Mode&0o7777, e.st.Uid, e.st.Gid)
	switch e.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return t.hashAt(dir, e.name, e.st) + " " + own
	case unix.S_IFLNK:
		n, err := unix.Readlinkat(dir, e.name, t.buf)
		if err != nil {
			return "symlink (unreadable)"
		}
		return "symlink → " + string(t.buf[:n])
	case unix.S_IFDIR:
		return "directory " + own
	case unix.S_IFIFO:
		return "fifo " + own
	case unix.S_IFSOCK:
		return "socket " + own
	default:
		return "device " + own
	}
}

// hashAt returns "sha256:…" of the regular file name in dir, or, past
// MaxHashed, its size and change time; st is its lstat.
func (t *tree) hashAt(dir int, name string, st unix.Stat_t) string {
	if st.Size > MaxHashed {
		return fmt.Sprintf("size=%d mtime=%d ctime=%d (too large to hash)", st.Size, st.Mtim.Sec, st.Ctim.Sec)
	}
	f, _, err := t.openFile(dir, name)
	if err != nil {
		return "unreadable (" + errText(err) + ")"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.LimitReader(f, MaxHashed), t.buf); err != nil {
		return "unreadable (" + errText(err) + ")"
	}
	return shortHash(h.Sum(nil))
}

// shortHash is the fingerprint of a digest: 96 bits say whether a file
// changed, and keep a report line short.
func shortHash(sum []byte) string { return "sha256:" + hex.EncodeToString(sum[:12]) }

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return shortHash(sum[:])
}

// errText is an error as a snapshot note shows it: the errno's text.
func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
