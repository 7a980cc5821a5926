// Command pause is the sandbox ("pause") process of every pod of modelstack's test cluster. No
// image can be pulled on an offline machine, so scripts/cluster.sh builds this static binary and
// imports it as a one-file image that its containerd uses as the sandbox image.
//
// It holds the pod's namespaces open until it is told to stop, and reaps the zombies it inherits
// when it is the pod's PID 1 (shared process namespace).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("modelstack pause 1")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
