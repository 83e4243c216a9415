// Command nats-server is NATS's own server main (github.com/nats-io/nats-server/v2,
// built from the Go module proxy at the release a run asks for), with one
// addition: the node image is FROM scratch, with no shell to write a
// configuration file, so the server's configuration comes in the
// environment (NATS_CONFIG_TEXT) and is written to the file -c names
// before the server reads it.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	const exe = "nats-server"
	if text := os.Getenv("NATS_CONFIG_TEXT"); text != "" {
		i := slices.Index(os.Args, "-c")
		if i < 0 || i+1 >= len(os.Args) {
			server.PrintAndDie(exe + ": NATS_CONFIG_TEXT is set: name the file to write it to with -c")
		}
		if err := os.WriteFile(os.Args[i+1], []byte(text), 0o644); err != nil {
			server.PrintAndDie(fmt.Sprintf("%s: write the configuration: %v", exe, err))
		}
	}
	fs := flag.NewFlagSet(exe, flag.ExitOnError)
	opts, err := server.ConfigureOptions(fs, os.Args[1:], server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		server.PrintAndDie(fmt.Sprintf("%s: %s", exe, err))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		server.PrintAndDie(fmt.Sprintf("%s: %s", exe, err))
	}
	s.ConfigureLogger()
	if err := server.Run(s); err != nil {
		server.PrintAndDie(err.Error())
	}
	s.WaitForShutdown()
}
