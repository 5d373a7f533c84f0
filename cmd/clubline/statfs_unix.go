//go:build unix

package main

import "syscall"

// statfs is the space free to an unprivileged user and the size of the
// filesystem holding path, in bytes.
func statfs(path string) (free, size uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}
