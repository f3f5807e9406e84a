//go:build !unix

package boards

import "time"

// processCPU is not measured on this platform; the report shows 0.
func processCPU() time.Duration { return 0 }
