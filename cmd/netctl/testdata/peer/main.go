// Command peer is the main process of the containers in netctl's Docker
// test: it accepts TCP connections on port 7000 and closes them at once,
// so that `netctl rtt` has a SYN-ACK to time, until SIGTERM. Like a node's
// server it does not reap children it did not start.
package main

import (
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ln, err := net.Listen("tcp", ":7000")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
