//go:build !unix

package measure

import "time"

// ProcessCPU is not measured on this platform; the reports show 0.
func ProcessCPU() time.Duration { return 0 }
