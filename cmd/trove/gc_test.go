package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestDaemonGC(t *testing.T) {
	old, had := os.LookupEnv("GOGC")
	defer func() {
		if had {
			os.Setenv("GOGC", old)
		} else {
			os.Unsetenv("GOGC")
		}
	}()
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	os.Unsetenv("GOGC")
	daemonGC()
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("without GOGC the daemon runs GC at %d%%, want 50%%", got)
	}
	os.Setenv("GOGC", "200")
	daemonGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set the daemon changed GC to %d%%", got)
	}
}
