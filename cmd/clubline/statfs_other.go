//go:build !unix

package main

import "errors"

func statfs(string) (free, size uint64, err error) {
	return 0, 0, errors.New("the free space of a disk is read on Unix only")
}
