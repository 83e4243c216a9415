// Package engine is the local Docker engine as both runtimes use it: the
// connection (testcontainers-go's, with its environment pinned so that no
// Ryuk sidecar is pulled and no guessed gateway is contacted) and the
// images the runtimes run, built from static Go binaries with nothing
// pulled (there is no registry).
//
// The node image is FROM scratch plus the system's static binaries and
// netctl. [BuildImage] compiles them into a temporary build context and
// tags the image faultline-node:<system>-<hash12>, the hash being over the
// Dockerfile and the binaries, so an unchanged build is never repeated. A
// binary built at another release of its server (sut.Binary.Require, from
// the run's --system-version) is built with a go.mod resolved through the
// Go module proxy once per version and kept in the user cache directory.
// [Build] does the same for any image of static binaries (the Kubernetes
// runtime's agent image).
package engine
