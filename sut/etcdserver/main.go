// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3, built from
// the Go module proxy), packaged for the etcd system under test. It is a
// module of its own so that etcd's server dependencies stay out of the
// faultline module and out of our store's binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
