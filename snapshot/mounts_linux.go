package snapshot

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultStallingFileSystems are the file system types a snapshot does not
// read homes on. Their reads wait on something outside the kernel: a
// server (NFS, SMB, Ceph...) that may be down, or a FUSE daemon — which a
// session, being root, can mount in a home and make never answer. A read
// stuck there blocks in the kernel where no timeout reaches, so the
// snapshot would give up at its bound every time, and the change report
// of every session after it with it. Such homes are noted as not compared.
// "fuse.*" (fuse.sshfs and the like) is matched by its prefix.
var DefaultStallingFileSystems = []string{
	"fuse", "fuseblk", "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p",
	"ceph", "glusterfs", "afs", "lustre", "gfs2", "ocfs2", "davfs", "virtiofs",
}

// maxMountinfo bounds the mount table read (a machine with thousands of
// container mounts stays well under it).
const maxMountinfo = 4 << 20

// stallingMounts lists the mount points, as absolute paths in this
// process's view, of the file systems of the given types. It reads
// /proc/self/mountinfo only, so it never touches those file systems
// itself. An unreadable table yields nil: the snapshot then reads every
// home as before, bounded by its timeout.
func stallingMounts(types []string) []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseStallingMounts(io.LimitReader(f, maxMountinfo), types)
}

// parseStallingMounts reads a mountinfo table (proc(5)): "ID PARENT
// MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
func parseStallingMounts(r io.Reader, types []string) []mount {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		sep := -1
		for i, f := range fields {
			if string(f) == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if stalls(string(fields[sep+1]), types) {
			out = append(out, mount{point: unescapeMount(string(fields[4])), fstype: string(fields[sep+1])})
		}
	}
	return out
}

func stalls(fstype string, types []string) bool {
	if strings.HasPrefix(fstype, "fuse.") {
		return true
	}
	for _, t := range types {
		if fstype == t {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mount is one mounted file system: where, and of what type.
type mount struct{ point, fstype string }

// onStallingMount is the mount of mounts that p (an absolute path) lies on
// or beneath, if any.
func onStallingMount(p string, mounts []mount) (mount, bool) {
	p = filepath.Clean(p)
	for _, m := range mounts {
		point := filepath.Clean(m.point)
		if p == point || point == "/" || strings.HasPrefix(p, point+"/") {
			return m, true
		}
	}
	return mount{}, false
}
