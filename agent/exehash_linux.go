//go:build linux

package agent

import (
	"io/fs"
	"syscall"
)

// exeIdentity names one version of one file: its device and inode (the
// same file whatever path reached it, and a new file when one is replaced
// by rename), its size, and its times of modification and of status change
// (ctime moves on any write or chmod and cannot be set back by a caller,
// unlike mtime, which touch -d sets to anything).
type exeIdentity struct {
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func identityOf(fi fs.FileInfo) exeIdentity {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return exeIdentity{size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
	}
	return exeIdentity{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size,
		mtimeNs: st.Mtim.Nano(), ctimeNs: st.Ctim.Nano()}
}
