//go:build !linux

package agent

import "io/fs"

// exeIdentity names one version of a file where no inode is at hand: the
// exec record is Linux's, so this only keeps other builds compiling.
type exeIdentity struct {
	name    string
	size    int64
	mtimeNs int64
}

func identityOf(fi fs.FileInfo) exeIdentity {
	return exeIdentity{name: fi.Name(), size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
}
