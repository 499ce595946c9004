package main

import (
	"os"

	"agora/core/containerizer/process"
)

// runShim is the internal verb process.ShimSubcommand: the process
// containerizer re-executes this binary with it to supervise one task (see
// process.ShimMain; the process package's init takes such a start over
// before main runs). Users never run it; it exits with the shim's status.
func runShim(args []string) error {
	os.Exit(process.ShimMain(args))
	return nil
}
