package localapi

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// controllingTerminal reports whether the terminal major:minor is the
// controlling terminal of any process on the machine, from field 7
// (tty_nr) of every /proc/PID/stat. It gives up with an error at deadline.
// Processes that end during the scan are skipped; a stat it cannot parse is
// an error (fail closed).
func controllingTerminal(major, minor uint32, deadline time.Time) (bool, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return false, err
	}
	defer dir.Close()
	buf := make([]byte, 512)
	for {
		names, err := dir.Readdirnames(256)
		for _, name := range names {
			if !isPID(name) {
				continue
			}
			tty, ok, perr := ttyOf(name, buf)
			if perr != nil {
				return false, perr
			}
			if ok && ttyMajor(tty) == major && ttyMinor(tty) == minor {
				return true, nil
			}
		}
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if time.Now().After(deadline) {
			return false, errors.New("the scan of /proc ran out of time")
		}
	}
}

func isPID(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return name != ""
}

// ttyOf reads tty_nr from /proc/pid/stat; ok is false when the process
// is gone. buf is scratch space; what follows the fields up to tty_nr is
// not needed, so a short read is enough.
func ttyOf(pid string, buf []byte) (tty uint32, ok bool, err error) {
	fd, err := unix.Open("/proc/"+pid+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false, nil
	}
	n, err := unix.Read(fd, buf)
	unix.Close(fd)
	if err != nil || n == 0 {
		return 0, false, nil // ended between the open and the read
	}
	tty, err = parseTTY(buf[:n])
	return tty, err == nil, err
}

// parseTTY finds tty_nr in a stat line: "pid (comm) state ppid pgrp
// session tty_nr ...". comm may hold spaces and parentheses; it ends at
// the last ")", all later fields being numbers or a state letter.
func parseTTY(line []byte) (uint32, error) {
	end := bytes.LastIndexByte(line, ')')
	if end < 0 {
		return 0, errors.New("a process's stat has no command name")
	}
	fields := bytes.Fields(line[end+1:])
	if len(fields) < 5 {
		return 0, errors.New("a process's stat is too short")
	}
	v, err := strconv.ParseInt(string(fields[4]), 10, 64)
	if err != nil {
		return 0, errors.New("a process's stat has no terminal number")
	}
	return uint32(v), nil
}

// The kernel encodes tty_nr as new_encode_dev does: minor's low byte, the
// major, then the rest of the minor.
func ttyMajor(v uint32) uint32 { return (v >> 8) & 0xfff }
func ttyMinor(v uint32) uint32 { return (v & 0xff) | ((v >> 12) & 0xfff00) }
