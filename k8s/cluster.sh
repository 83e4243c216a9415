#!/usr/bin/env bash
# cluster.sh: a real single-node Kubernetes for faultline's tests, built
# from the Go module proxy and run as root on this machine.
#
#   k8s/cluster.sh build            build the binaries into $K8S_DIR/bin
#   k8s/cluster.sh up               build, start the cluster, write the kubeconfig
#   k8s/cluster.sh import IMAGE...  copy images from the local Docker engine into the node
#   k8s/cluster.sh status           what is running
#   k8s/cluster.sh down             stop everything and remove its state
#   k8s/cluster.sh run -- CMD...    up, CMD with KUBECONFIG set, down (on every exit path)
#
# Everything lives under $K8S_DIR (default: .k8s in the checkout): the
# binaries, the PKI, etcd's data, a private containerd (its own config,
# root, state, socket, runc root and network namespaces), the kubelet's
# root, the CNI state and the logs. Outside it the cluster touches only
# what a node cannot do without, and `down` undoes each of them: the CNI
# bridge (flk8s0), one iptables FORWARD rule for it, the cgroup subtree
# /faultline-k8s, kernel settings the kubelet sets (restored), the
# kubelet's links in /var/log/containers and libcni's cache files.
#
# Knobs (environment): K8S_DIR, K8S_API_PORT (6443), K8S_IMAGES (images to
# import at `up`), K8S_UP_TIMEOUT (seconds, 300).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8S_DIR=${K8S_DIR:-$REPO/.k8s}
mkdir -p "$K8S_DIR"
[[ -f $K8S_DIR/.gitignore ]] || echo "*" >"$K8S_DIR/.gitignore" # state, never committed
K8S_DIR=$(cd "$K8S_DIR" && pwd)
K8S_API_PORT=${K8S_API_PORT:-6443}
K8S_UP_TIMEOUT=${K8S_UP_TIMEOUT:-300}
K8S_VERSION=1.37.2

BIN=$K8S_DIR/bin
PKI=$K8S_DIR/pki
LOGS=$K8S_DIR/logs
RUN=$K8S_DIR/run
STATE=$K8S_DIR/state # removed by down: etcd, containerd, kubelet, CNI
SOCK=$RUN/containerd.sock
NODE=faultline-k8s
BRIDGE=flk8s0
SUBNET=10.244.0.0/24
NODE_IP=10.244.0.1 # the bridge's address: the node's, and the apiserver's advertised one
SERVICE_CIDR=10.96.0.0/24
CGROUP=faultline-k8s
PAUSE_IMAGE=faultline.local/pause:1
ETCD_PORT=2379
KUBELET_PORT=9250 # below the range Docker host ports are drawn from
KUBELET_HEALTHZ_PORT=9248
KUBE_TOOLS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
NODE_TOOLS=(bridge host-local loopback crictl)
# Kernel settings the kubelet changes at start; saved by up, restored by down.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)

T0=$(date +%s)
say() { printf 'k8s [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf 'k8s: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- build

# stamp is a hash of everything the binaries are built from.
stamp() {
  (cd "$REPO/k8s/build" && cat ./*/go.mod ./*/go.sum ./*/*.go ./*/*/*.go 2>/dev/null; go version) | sha256sum | cut -c1-16
}

# gobuild MODULE LOG ARGS...: go build in k8s/build/MODULE, printing a
# progress line every 100 compiled packages and the log's tail on failure.
gobuild() {
  local mod=$1 log=$2; shift 2
  (cd "$REPO/k8s/build/$mod" && CGO_ENABLED=0 go build -v "$@") >"$log" 2>&1 &
  local pid=$! n=0 last=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(wc -l <"$log")
    if ((n >= last + 100)); then say "  $mod: $n packages compiled"; last=$n; fi
  done
  if ! wait "$pid"; then
    tail -30 "$log" >&2
    die "go build in k8s/build/$mod failed (log: $log)"
  fi
}

cmd_build() {
  mkdir -p "$BIN" "$LOGS"
  local want; want=$(stamp)
  if [[ -f $BIN/.stamp && $(cat "$BIN/.stamp") == "$want" ]]; then
    say "binaries up to date ($BIN)"
    return
  fi
  local t=$(date +%s) v="k8s.io/component-base/version"
  say "building Kubernetes v$K8S_VERSION (${KUBE_TOOLS[*]}) from the module proxy: 6-10 min cold on 2 cores, seconds warm"
  gobuild kube "$LOGS/build-kube.log" -o "$BIN/" \
    -ldflags "-s -w -X $v.gitVersion=v$K8S_VERSION -X $v.gitMajor=${K8S_VERSION%%.*} -X $v.gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") -X $v.gitTreeState=clean" tool
  say "building etcd"
  gobuild etcd "$LOGS/build-etcd.log" -ldflags "-s -w" -o "$BIN/etcd" .
  say "building ${NODE_TOOLS[*]} and the pause image's binary"
  gobuild tools "$LOGS/build-tools.log" -ldflags "-s -w" -o "$BIN/" tool
  gobuild tools "$LOGS/build-pause.log" -ldflags "-s -w" -o "$BIN/pause" ./pause
  echo "$want" >"$BIN/.stamp"
  say "built in $(($(date +%s) - t))s"
}

# ---------------------------------------------------------------- helpers

need_root() { [[ $(id -u) == 0 ]] || die "run as root: the kubelet and containerd need it (sudo make k8s-up)"; }

# install_packages installs the Debian packages the node needs when missing.
install_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v curl >/dev/null || missing+=(curl)
  command -v mount >/dev/null || missing+=(mount)
  ((${#missing[@]} == 0)) && return
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ours PID: the process is alive and was started from this $K8S_DIR.
ours() { { tr "\\0" " " <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$K8S_DIR"; }

# daemon NAME CMD...: start CMD in its own session, logging to logs/NAME.log.
daemon() {
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (10).
stop() {
  local name=$1 grace=${2:-10} pid
  [[ -f $RUN/$name.pid ]] || return 0
  pid=$(cat "$RUN/$name.pid")
  if ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do ours "$pid" || break; sleep 0.1; done
    if ours "$pid"; then
      say "  $name did not stop in ${grace}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do ours "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$RUN/$name.pid"
}

running() { [[ -f $RUN/$1.pid ]] && ours "$(cat "$RUN/$1.pid")"; }

# wait_for WHAT DAEMON CMD...: retry CMD until it succeeds; fail with the
# daemon's log when it exits or K8S_UP_TIMEOUT passes.
wait_for() {
  local what=$1 name=$2; shift 2
  local deadline=$(($(date +%s) + K8S_UP_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -25 "$LOGS/$name.log" >&2
      die "$name exited while waiting for $what (log: $LOGS/$name.log)"
    fi
    if (($(date +%s) > deadline)); then
      tail -25 "$LOGS/$name.log" >&2
      die "timed out after ${K8S_UP_TIMEOUT}s waiting for $what (log: $LOGS/$name.log)"
    fi
    sleep 0.5
  done
}

api() { curl -fsS --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$K8S_API_PORT$1"; }

# ---------------------------------------------------------------- PKI

# cert NAME CN ORG EXT: a key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 ext=$4 subj="/CN=$2"
  [[ -n $org ]] && subj+="/O=$org"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n%s\n' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig FILE CERTNAME [EXTRA]: a kubeconfig for the user of
# PKI/CERTNAME.crt; EXTRA is appended to the cluster's entry.
kubeconfig() {
  local b64='base64 -w0'
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE
  cluster:
    server: https://127.0.0.1:$K8S_API_PORT
    certificate-authority-data: $($b64 <"$PKI/ca.crt")${3:-}
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$PKI/$2.crt")
    client-key-data: $($b64 <"$PKI/$2.key")
contexts:
- name: $NODE
  context: {cluster: $NODE, user: $2}
current-context: $NODE
EOF
  chmod 600 "$1"
}

make_pki() {
  if [[ -f $PKI/admin.crt ]] && openssl x509 -checkend 86400 -noout -in "$PKI/admin.crt" >/dev/null; then
    return
  fi
  say "creating the cluster's CA and certificates ($PKI)"
  rm -rf "$PKI"; mkdir -p "$PKI"; chmod 700 "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=faultline-k8s-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
  local client="extendedKeyUsage=clientAuth"
  cert apiserver kube-apiserver "" "extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:${SERVICE_CIDR%.0/*}.1"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$client"
  cert admin faultline-admin system:masters "$client"
  cert controller-manager system:kube-controller-manager "" "$client"
  cert scheduler system:kube-scheduler "" "$client"
  cert kubelet "system:node:$NODE" system:nodes "$client"
  cert kubelet-serving "$NODE" "" "extendedKeyUsage=serverAuth
subjectAltName=DNS:$NODE,IP:$NODE_IP"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
}

# ---------------------------------------------------------------- up

write_configs() {
  mkdir -p "$STATE/cni/net.d" "$STATE/kubelet" "$STATE/containerd"
  # The faultline runtime loads its images through this script: the node
  # has no registry to pull from (package kubernetes, ImageLoaderExtension).
  kubeconfig "$K8S_DIR/kubeconfig" admin "
    extensions:
    - name: faultline.dev/image-loader
      extension: {command: [\"$REPO/k8s/cluster.sh\", \"import\"]}"
  kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
  kubeconfig "$STATE/scheduler.kubeconfig" scheduler
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$STATE/containerd/runc-v1"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM drops CAP_SYS_RESOURCE: containers may not lower their OOM score.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$STATE/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$BIN"
    conf_dir = "$STATE/cni/net.d"
EOF
  # Pods talk to each other and to the host over the bridge, and to
  # nothing else: no default route, no masquerading.
  cat >"$STATE/cni/net.d/10-faultline.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NODE",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$SUBNET", "gateway": "$NODE_IP"}]],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$SOCK
# This host has cgroup v1 with the cgroupfs driver.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
# This VM drops CAP_SYS_RESOURCE: the kubelet may not lower its OOM score.
oomScoreAdj: 0
failSwapOn: false
podLogsDirectory: $STATE/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
staticPodPath: ""
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
EOF
}

# host_setup makes the bridge (so that its address exists before the
# apiserver and kubelet bind to it), the FORWARD rule, the cgroup root, and
# saves the kernel settings the kubelet and the bridge plugin change.
host_setup() {
  : >"$RUN/sysctl.saved"
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")" >>"$RUN/sysctl.saved"; done
  ip link add "$BRIDGE" type bridge 2>/dev/null || true
  ip addr replace "$NODE_IP/${SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Docker sets the FORWARD policy to DROP, and bridged frames pass
  # through it (br_netfilter): let pod-to-pod traffic through.
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  local d
  for d in /sys/fs/cgroup/*/; do
    [[ -d $d && ! -L ${d%/} && $d != */unified/ ]] || continue
    mkdir -p "$d$CGROUP"
    if [[ -f ${d}cpuset.cpus && -z $(cat "$d$CGROUP/cpuset.cpus") ]]; then
      cat "${d}cpuset.cpus" >"$d$CGROUP/cpuset.cpus"
      cat "${d}cpuset.mems" >"$d$CGROUP/cpuset.mems"
    fi
  done
}

start_control_plane() {
  say "starting etcd"
  daemon etcd "$BIN/etcd" --name "$NODE" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "$NODE=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync --log-level warn
  wait_for "etcd /health" etcd curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  say "starting kube-apiserver (bound to 127.0.0.1:$K8S_API_PORT, advertising $NODE_IP)"
  daemon kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address "$NODE_IP" --secure-port "$K8S_API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false --v 1
  wait_for "kube-apiserver /readyz" kube-apiserver api /readyz

  say "starting kube-controller-manager and kube-scheduler"
  daemon kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials --leader-elect=false --secure-port 0 --profiling=false --v 1
  daemon kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
    --leader-elect=false --secure-port 0 --profiling=false --v 1
}

# pause_image builds the sandbox image FROM scratch with the local engine.
pause_image() {
  local ctx; ctx=$(mktemp -d)
  cp "$BIN/pause" "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  docker build -q -t "$PAUSE_IMAGE" "$ctx" >/dev/null 2>"$LOGS/pause-build.log" ||
    die "docker build of $PAUSE_IMAGE failed: $(cat "$LOGS/pause-build.log")"
  rm -rf "$ctx"
}

# normalize is an image name as containerd stores it (docker.io/library/...).
normalize() {
  local n=$1
  [[ $n == *:* || $n == *@* ]] || n+=:latest
  case ${n%%/*} in
  *.* | *:* | localhost) ;;
  *) [[ $n == */* ]] && n=docker.io/$n || n=docker.io/library/$n ;;
  esac
  echo "$n"
}

ctr() { command ctr --address "$SOCK" --namespace k8s.io "$@"; }

# cmd_import copies images from the local Docker engine into the node's
# containerd: there is no registry to pull from.
cmd_import() {
  running containerd || die "the cluster is not up: make k8s-up first"
  local img
  for img in "$@"; do
    docker image inspect "$img" >/dev/null 2>&1 ||
      die "image $img is not in the local Docker engine (build it first, e.g. bin/faultline image)"
    # Tags are taken as immutable (faultline's are content hashes).
    if [[ $img != "$PAUSE_IMAGE" && -n $(ctr images ls -q "name==$(normalize "$img")" 2>/dev/null) ]]; then continue; fi
    say "importing $img"
    docker save "$img" | ctr images import - >/dev/null
  done
}

start_node() {
  say "starting containerd (private: $SOCK)"
  daemon containerd containerd --config "$STATE/containerd/config.toml"
  wait_for "containerd" containerd ctr version
  pause_image
  cmd_import "$PAUSE_IMAGE" ${K8S_IMAGES:-}
  say "starting kubelet (node $NODE, cgroup v1 + cgroupfs)"
  daemon kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$STATE/kubelet.kubeconfig" --hostname-override "$NODE" --node-ip "$NODE_IP" \
    --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" --v 1
  wait_for "node $NODE Ready" kubelet node_ready
  wait_for "the default service account" kube-controller-manager api /api/v1/namespaces/default/serviceaccounts/default
}

node_ready() {
  api "/api/v1/nodes/$NODE" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

healthy() {
  local d
  for d in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do running "$d" || return 1; done
  node_ready
}

cmd_up() {
  need_root
  mkdir -p "$RUN" "$LOGS"
  if healthy 2>/dev/null; then
    say "already up; KUBECONFIG=$K8S_DIR/kubeconfig"
    [[ -z ${K8S_IMAGES:-} ]] || cmd_import $K8S_IMAGES
    return
  fi
  teardown quiet # what an earlier, crashed run left behind
  trap 'rc=$?; set +e; trap - EXIT INT TERM; say "up failed (exit $rc): removing what it started"; teardown; exit $rc' EXIT
  trap 'exit 130' INT TERM
  install_packages
  command -v docker >/dev/null && docker info >/dev/null 2>&1 || die "no Docker engine: images are imported from it (docker save)"
  cmd_build
  local t=$(date +%s)
  mkdir -p "$RUN" "$STATE"
  make_pki
  write_configs
  host_setup
  start_control_plane
  start_node
  trap - EXIT INT TERM
  say "cluster up in $(($(date +%s) - t))s: export KUBECONFIG=$K8S_DIR/kubeconfig (kubectl: $BIN/kubectl); stop it with make k8s-down"
}

# ---------------------------------------------------------------- down

# unmount_all unmounts everything mounted below $K8S_DIR, deepest first.
unmount_all() {
  local m
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v d="$K8S_DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    ((${#mounts[@]} == 0)) && return
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

# teardown stops every daemon and removes every trace the cluster left
# outside $K8S_DIR's bin, pki and logs. It is safe to run at any time.
teardown() {
  local quiet=${1:-}
  [[ -d $RUN || -d $STATE ]] || return 0
  [[ -n $quiet ]] || say "stopping the cluster"
  local t=$(date +%s) pid
  # Pods first, while containerd still runs: CNI DEL frees addresses and veths.
  stop kubelet 15
  if running containerd; then
    "$BIN/crictl" --runtime-endpoint "unix://$SOCK" --timeout 20s rmp --all --force >/dev/null 2>&1 || true
  fi
  stop containerd 15
  # Shims of containers that outlived containerd: ours by their -address.
  for pid in $(grep -lsF -- "$SOCK" /proc/[0-9]*/cmdline | cut -d/ -f3); do
    if { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q '^[^ ]*containerd-shim'; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  # The apiserver before etcd.
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver 20
  stop etcd
  unmount_all
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  local d
  for d in /sys/fs/cgroup/*/"$CGROUP"; do
    [[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [[ -f $RUN/sysctl.saved ]]; then sysctl -q -p "$RUN/sysctl.saved" >/dev/null || true; fi
  find /var/log/containers -maxdepth 1 -lname "$K8S_DIR/*" -delete 2>/dev/null || true
  rm -f /var/lib/cni/results/"$NODE"-* 2>/dev/null || true
  rm -rf "$STATE" "$RUN" "$K8S_DIR/kubeconfig"
  [[ -n $quiet ]] || say "cluster down in $(($(date +%s) - t))s (kept: $BIN, $PKI, $LOGS)"
}

cmd_down() { need_root; teardown; }

cmd_status() {
  local d
  for d in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet; do
    if running "$d"; then echo "$d: running (pid $(cat "$RUN/$d.pid"))"; else echo "$d: not running"; fi
  done
  if node_ready 2>/dev/null; then echo "node $NODE: Ready; KUBECONFIG=$K8S_DIR/kubeconfig"; else echo "node $NODE: not ready"; fi
}

# cmd_run: up, then CMD with KUBECONFIG set, then down whatever happens.
cmd_run() {
  [[ ${1:-} == -- ]] && shift
  (($# > 0)) || die "usage: cluster.sh run -- CMD..."
  cmd_up
  trap 'rc=$?; set +e; trap - EXIT INT TERM; teardown; exit $rc' EXIT
  trap 'exit 130' INT TERM
  KUBECONFIG=$K8S_DIR/kubeconfig "$@"
}

case ${1:-} in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
import) shift; cmd_import "$@" ;;
run) shift; cmd_run "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
