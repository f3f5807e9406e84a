//go:build unix

package memory_test

import "syscall"

// processCPU is the CPU time the process has used, in nanoseconds, garbage
// collection included. On a machine shared with other work, wall-clock ns/op says
// more about the neighbours than about the code; CPU time per op does not.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
