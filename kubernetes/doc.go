// Package kubernetes runs a cluster under test on any Kubernetes, through
// client-go: one pod per node (n1..nN) in a namespace of its own per run,
// faultline-<run id>, labelled as every runtime labels what it creates
// (package cluster: faultline=1, faultline.run, faultline.pid,
// faultline.host) so that the namespaces of crashed runs are reaped. What
// both runtimes do alike (probing, addresses, logs, labels) is package
// cluster's; the node image is package engine's.
//
// Each node pod runs the node image with the faultline agent (package
// agent) as its entrypoint; an init container copies the agent in from the
// small agent image, so any node image runs unchanged. The agent starts
// the node's process and kills (SIGKILL), restarts, pauses (SIGSTOP) and
// resumes (SIGCONT) it on request: the pod, its address, its network
// namespace (where netctl's nftables rules live) and its data volume
// outlive a kill, as a machine does when its process is killed. The node
// container runs as root with CAP_NET_ADMIN, so netctl works through
// Exec; the agent runs the node's process as the image's user. A node
// that leaves the cluster (the membership fault) is killed and its data
// volume wiped by the agent; it joins again in the same pod under the
// command line of its fresh identity.
//
// Peers reach each other by node id: the agent writes the pods' addresses
// into /etc/hosts before the first start (no cluster DNS is needed). The
// harness reaches the nodes' client and admin ports through port forwards
// over the apiserver, on 127.0.0.1 ports fixed for the cluster's life, so
// a plain kubeconfig is all it needs, wherever the cluster runs.
//
// Images: the nodes must have the node and agent images or be able to pull
// them. For a cluster without a registry, Config.LoadImages (or the
// kubeconfig's faultline.dev/image-loader extension, which k8s/cluster.sh
// writes) copies them from the local Docker engine.
package kubernetes
