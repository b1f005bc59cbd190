package redistest

import (
	"runtime"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func isLinux() bool { return runtime.GOOS == "linux" }
