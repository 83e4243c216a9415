// Package agent is the supervisor that runs inside every node pod of the
// Kubernetes runtime, and the command line the runtime drives it with.
//
// Kubernetes has no "stop this container and start it again later": a
// container whose process dies is restarted by the kubelet (with growing
// back-off) or never. A Jepsen kill must hold the node down until the
// nemesis restarts it, with its disk, its address and its firewall rules.
// So the node container's entrypoint is this agent: it starts the node's
// process as its child (dropping to the image's user), and on request
// kills it with SIGKILL, starts it again, freezes it with SIGSTOP and
// thaws it with SIGCONT. The pod, its IP, its network namespace and its
// data volume live on across kills, as a machine does when its process is
// killed.
//
// The runtime talks to the agent through `kubectl exec`-style execs of the
// same binary (see [CtlArgs]), which reach the agent over a unix socket in
// the pod's shared /faultline volume. The binary reaches the pod through an
// init container that copies it there from the small agent image (see
// [InstallArgs]), so the node image of any system under test runs
// unchanged.
package agent

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Paths inside a node pod.
const (
	// Dir is the volume shared by the init container and the node
	// container.
	Dir = "/faultline"
	// Path is where the init container installs the agent binary.
	Path = Dir + "/faultline-agent"
	// Socket is the agent's control socket.
	Socket = Dir + "/agent.sock"
	// ImagePath is the agent binary inside the agent image.
	ImagePath = "/faultline-agent"
	// HostsFile is the resolver's hosts file, which the hosts operation
	// extends with the peers' pod addresses.
	HostsFile = "/etc/hosts"
)

// Operations of `faultline-agent ctl OP`.
const (
	OpStart  = "start"  // start the node's process (first start or after a kill)
	OpKill   = "kill"   // SIGKILL the process group and wait for it to end
	OpPause  = "pause"  // SIGSTOP the process group and wait until stopped
	OpResume = "resume" // SIGCONT the process group
	OpState  = "state"  // report the state
	OpHosts  = "hosts"  // write NAME=IP pairs into the hosts file
	// OpWipe deletes everything in a directory (the node's data volume)
	// while the process is down: the node left the cluster.
	OpWipe = "wipe"
	// OpCommand sets the command line of the next start (CommandArg):
	// the node joins again under a new identity.
	OpCommand = "command"
)

// States the agent reports.
const (
	StateWaiting = "waiting" // never started (run --wait)
	StateRunning = "running"
	StatePaused  = "paused"
	StateKilled  = "killed" // killed by OpKill
	StateExited  = "exited" // ended by itself; the reply adds its status
)

// RunConfig is how the node container's agent runs the node's process.
type RunConfig struct {
	// Command is the node's command line (absolute path first).
	Command []string
	// UID and GID the process runs as; -1 keeps the agent's (root).
	UID, GID int
	// Wait holds the first start until OpStart, so that the runtime can
	// write the peers' addresses (OpHosts) first.
	Wait bool
}

// RunArgs is the node container's command line: the agent supervising
// cfg.Command.
func RunArgs(cfg RunConfig) []string {
	args := []string{Path, "run", "--socket", Socket, "--uid", strconv.Itoa(cfg.UID), "--gid", strconv.Itoa(cfg.GID)}
	if cfg.Wait {
		args = append(args, "--wait")
	}
	return append(append(args, "--"), cfg.Command...)
}

// CtlArgs is the command line that asks the pod's agent to perform op.
func CtlArgs(op string, args ...string) []string {
	return append([]string{Path, "ctl", "--socket", Socket, op}, args...)
}

// InstallArgs is the init container's command line: copy the agent from
// the agent image into the shared volume.
func InstallArgs() []string { return []string{ImagePath, "install", Path} }

// CommandArg is OpCommand's argument for a command line: one word, as
// the control protocol splits on spaces.
func CommandArg(cmd []string) string {
	b, _ := json.Marshal(cmd)
	return base64.StdEncoding.EncodeToString(b)
}

// parseCommand takes CommandArg's word back.
func parseCommand(args []string) ([]string, error) {
	var cmd []string
	if len(args) != 1 {
		return nil, fmt.Errorf("command takes one argument (CommandArg), not %d", len(args))
	}
	b, err := base64.StdEncoding.DecodeString(args[0])
	if err == nil {
		err = json.Unmarshal(b, &cmd)
	}
	if err == nil && (len(cmd) == 0 || !filepath.IsAbs(cmd[0])) {
		err = fmt.Errorf("%q is no command line with an absolute path first", cmd)
	}
	if err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return cmd, nil
}

// HostsArgs are the arguments of OpHosts for a name -> IP map.
func HostsArgs(ips map[string]string) []string {
	var args []string
	for name, ip := range ips {
		args = append(args, name+"="+ip)
	}
	return args
}

const usage = `usage:
  faultline-agent run [--socket PATH] [--uid N] [--gid N] [--wait] -- CMD [ARG...]
  faultline-agent ctl [--socket PATH] start|kill|pause|resume|state|hosts [NAME=IP...]|wipe DIR|command ARGV
  faultline-agent install DEST
`

// Main runs the agent binary with os.Args-style args and returns the exit
// code: 0 success, 1 failure, 2 bad usage.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[1] {
	case "run":
		var cfg RunConfig
		var sock string
		if cfg, sock, err = parseRun(args[2:]); err == nil {
			err = run(cfg, sock, stderr)
		}
	case "ctl":
		var reply string
		reply, err = ctlMain(args[2:])
		if reply != "" {
			fmt.Fprintln(stdout, reply)
		}
	case "install":
		if len(args) != 3 {
			err = errUsage("install takes one destination path")
		} else {
			err = install(args[2])
		}
	default:
		err = errUsage("unknown command " + strconv.Quote(args[1]))
	}
	var u usageError
	switch {
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "faultline-agent: %v\n%s", err, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "faultline-agent: %v\n", err)
		return 1
	}
	return 0
}

type usageError string

func (e usageError) Error() string { return string(e) }

func errUsage(s string) error { return usageError(s) }

// flags parses --socket/--uid/--gid/--wait up to "--" or the first
// non-flag; it returns the rest.
func flags(args []string, sock *string, cfg *RunConfig) ([]string, error) {
	for len(args) > 0 {
		a := args[0]
		switch a {
		case "--":
			return args[1:], nil
		case "--wait":
			if cfg == nil {
				return nil, errUsage("--wait is a run flag")
			}
			cfg.Wait = true
			args = args[1:]
			continue
		case "--socket", "--uid", "--gid":
			if len(args) < 2 {
				return nil, errUsage(a + " needs a value")
			}
			v := args[1]
			args = args[2:]
			if a == "--socket" {
				*sock = v
				continue
			}
			if cfg == nil {
				return nil, errUsage(a + " is a run flag")
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < -1 {
				return nil, errUsage(a + " takes a number (-1: keep the agent's)")
			}
			if a == "--uid" {
				cfg.UID = n
			} else {
				cfg.GID = n
			}
			continue
		}
		if strings.HasPrefix(a, "-") && cfg != nil {
			return nil, errUsage("unknown flag " + a)
		}
		return args, nil
	}
	return nil, nil
}

func parseRun(args []string) (RunConfig, string, error) {
	cfg := RunConfig{UID: -1, GID: -1}
	sock := Socket
	rest, err := flags(args, &sock, &cfg)
	if err != nil {
		return cfg, "", err
	}
	if len(rest) == 0 {
		return cfg, "", errUsage("run needs the node's command after --")
	}
	cfg.Command = rest
	return cfg, sock, nil
}

func ctlMain(args []string) (string, error) {
	sock := Socket
	rest, err := flags(args, &sock, nil)
	if err != nil {
		return "", err
	}
	if len(rest) == 0 {
		return "", errUsage("ctl needs an operation")
	}
	return Ctl(context.Background(), sock, rest[0], rest[1:]...)
}

// Ctl sends one operation to the agent listening on sock and returns its
// reply (the node's state after the operation).
func Ctl(ctx context.Context, sock, op string, args ...string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return "", fmt.Errorf("reach the agent at %s: %w", sock, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(conn, strings.Join(append([]string{op}, args...), " ")); err != nil {
		return "", fmt.Errorf("send %s: %w", op, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: no reply from the agent: %w", op, err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("%s: %s", op, msg)
	}
	return strings.TrimPrefix(line, "ok "), nil
}

// install copies the running binary to dest.
func install(dest string) error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	tmp := dest + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, self); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// run is the supervisor: it serves the control socket until SIGTERM or
// SIGINT, which it forwards to the node's process before exiting.
func run(cfg RunConfig, sock string, logw io.Writer) error {
	s := NewSupervisor(cfg, os.Stdout, os.Stderr, logw)
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer ln.Close()
	if !cfg.Wait {
		if _, err := s.Do(OpStart, nil); err != nil {
			return err
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		s.logf("%v: stopping the node", sig)
		s.Stop(sig.(syscall.Signal), 5*time.Second)
		ln.Close()
	}()
	return s.Serve(ln)
}

// Supervisor runs and controls one node process. Its methods are safe for
// concurrent use; operations are serialized.
type Supervisor struct {
	cfg            RunConfig
	stdout, stderr io.Writer // the node's output
	logw           io.Writer // the agent's own lines
	hostsFile      string

	mu       sync.Mutex
	state    string
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has been waited for
	exitDesc string        // how the last process ended
}

// NewSupervisor returns a supervisor of cfg.Command in state waiting; the
// node's output goes to stdout and stderr, the agent's own lines to logw.
func NewSupervisor(cfg RunConfig, stdout, stderr, logw io.Writer) *Supervisor {
	return &Supervisor{cfg: cfg, stdout: stdout, stderr: stderr, logw: logw, hostsFile: HostsFile, state: StateWaiting}
}

func (s *Supervisor) logf(format string, args ...any) {
	fmt.Fprintf(s.logw, "faultline-agent: "+format+"\n", args...)
}

// Serve answers one operation per connection on ln until ln is closed.
func (s *Supervisor) Serve(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.serveConn(conn)
	}
}

func (s *Supervisor) serveConn(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 64<<10)).ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		fmt.Fprintln(conn, "error empty request")
		return
	}
	reply, err := s.Do(f[0], f[1:])
	if err != nil {
		fmt.Fprintln(conn, "error "+strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Fprintln(conn, "ok "+reply)
}

// Do performs op and returns the state it leaves the node in.
func (s *Supervisor) Do(op string, args []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch op {
	case OpStart:
		err = s.start()
	case OpKill:
		err = s.kill()
	case OpPause:
		err = s.signal(StateRunning, syscall.SIGSTOP, StatePaused, 'T')
	case OpResume:
		err = s.signal(StatePaused, syscall.SIGCONT, StateRunning, 0)
	case OpState:
	case OpHosts:
		err = writeHosts(s.hostsFile, args)
	case OpWipe:
		err = s.wipe(args)
	case OpCommand:
		var cmd []string
		if cmd, err = parseCommand(args); err == nil {
			s.cfg.Command = cmd
		}
	default:
		return "", fmt.Errorf("unknown operation %q: use %s, %s, %s, %s, %s, %s, %s or %s", op, OpStart, OpKill, OpPause, OpResume, OpState, OpHosts, OpWipe, OpCommand)
	}
	if err != nil {
		return "", err
	}
	s.logf("%s: node %s", op, s.describe())
	return s.describe(), nil
}

// describe is the state, with the exit status when the process ended by
// itself. Called with s.mu held.
func (s *Supervisor) describe() string {
	s.reap()
	if s.state == StateExited {
		return s.state + " (" + s.exitDesc + ")"
	}
	return s.state
}

// reap notices a process that ended by itself. Called with s.mu held.
func (s *Supervisor) reap() {
	if s.done == nil || (s.state != StateRunning && s.state != StatePaused) {
		return
	}
	select {
	case <-s.done:
		s.state = StateExited
	default:
	}
}

func (s *Supervisor) start() error {
	s.reap()
	switch s.state {
	case StateRunning, StatePaused:
		return fmt.Errorf("the node is %s (pid %d): kill it first", s.state, s.cmd.Process.Pid)
	}
	cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.cfg.UID >= 0 || s.cfg.GID >= 0 {
		uid, gid := s.cfg.UID, s.cfg.GID
		if uid < 0 {
			uid = os.Getuid()
		}
		if gid < 0 {
			gid = os.Getgid()
		}
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.cfg.Command[0], err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.exitDesc = exitDesc(err)
		s.mu.Unlock()
		s.logf("node process %d ended: %s", cmd.Process.Pid, exitDesc(err))
		close(done)
	}()
	s.cmd, s.done, s.state = cmd, done, StateRunning
	return nil
}

func exitDesc(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "signal " + ws.Signal().String()
		}
		return "exit status " + strconv.Itoa(ee.ExitCode())
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// kill SIGKILLs the node's process group and waits until it has ended. A
// process that already ended by itself counts as killed, so that a heal
// that kills and restarts everything down gets it back.
func (s *Supervisor) kill() error {
	s.reap()
	if s.state == StateExited {
		s.state = StateKilled
		return nil
	}
	if s.state != StateRunning && s.state != StatePaused {
		return fmt.Errorf("the node is %s: kill needs a running or paused node", s.describe())
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	if err := s.waitDone(10 * time.Second); err != nil {
		return err
	}
	s.state = StateKilled
	return nil
}

// waitDone waits for the process to be reaped, releasing s.mu meanwhile
// (the reaper needs it). Called with s.mu held.
func (s *Supervisor) waitDone(timeout time.Duration) error {
	done := s.done
	s.mu.Unlock()
	defer s.mu.Lock()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("the node's process did not end within %v of SIGKILL", timeout)
	}
}

// signal sends sig to the process group of a node in state from, waits
// until the process shows procState in /proc (0: any but stopped), and
// moves to state to.
func (s *Supervisor) signal(from string, sig syscall.Signal, to string, procState byte) error {
	s.reap()
	if s.state != from {
		return fmt.Errorf("the node is %s: this needs a %s node", s.describe(), from)
	}
	pid := s.cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		return fmt.Errorf("send %v to process group %d: %w", sig, pid, err)
	}
	// A node process may run its own process in a group of its own
	// (faultfs runs the node's on its mount so): they stop and go on
	// together, as a machine's processes do.
	for _, d := range descendants(pid) {
		syscall.Kill(d, sig)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := procStatus(pid)
		if err != nil {
			return err
		}
		if (procState != 0 && st == procState) || (procState == 0 && st != 'T') {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d is in state %c 5s after %v", pid, st, sig)
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.state = to
	return nil
}

// descendants are the processes below pid, found through /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[i+1:])); i >= 0 && len(f) >= 2 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// procStatus is the one-letter state of pid in /proc/PID/stat.
func procStatus(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read the state of process %d: %w", pid, err)
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("process %d: unexpected /proc stat %q", pid, b)
	}
	return b[i+2], nil
}

// Stop ends the node's process for good (the pod is going away): sig,
// then SIGKILL after grace. It resumes a paused process so that it can
// act on sig.
func (s *Supervisor) Stop(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reap()
	if s.state != StateRunning && s.state != StatePaused {
		return
	}
	pid := s.cmd.Process.Pid
	syscall.Kill(-pid, sig)
	syscall.Kill(-pid, syscall.SIGCONT)
	if s.waitDone(grace) != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		s.waitDone(grace)
	}
	s.state = StateKilled
}

// wipe deletes everything in the directory args names, which stays (a
// volume's mount point), while the node's process is down. Called with
// s.mu held.
func (s *Supervisor) wipe(args []string) error {
	s.reap()
	if s.state == StateRunning || s.state == StatePaused {
		return fmt.Errorf("wipe: the node is %s: kill it first", s.state)
	}
	if len(args) != 1 || !filepath.IsAbs(args[0]) || filepath.Clean(args[0]) == "/" {
		return fmt.Errorf("wipe takes one absolute directory other than /, not %q", args)
	}
	entries, err := os.ReadDir(args[0])
	if err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(args[0], e.Name())); err != nil {
			return fmt.Errorf("wipe: %w", err)
		}
	}
	return nil
}

// hostsMark ends every line the hosts operation writes.
const hostsMark = "# faultline-agent"

// writeHosts replaces the lines it wrote before in file with one line per
// NAME=IP pair. The file is rewritten in place: the kubelet bind-mounts it.
func writeHosts(file string, pairs []string) error {
	var add []string
	for _, p := range pairs {
		name, ip, ok := strings.Cut(p, "=")
		if !ok || name == "" || net.ParseIP(ip) == nil {
			return fmt.Errorf("hosts: %q is not NAME=IP", p)
		}
		add = append(add, ip+"\t"+name+"\t"+hostsMark)
	}
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if l != "" && !strings.HasSuffix(l, hostsMark) {
			keep = append(keep, l)
		}
	}
	data := strings.Join(append(keep, add...), "\n") + "\n"
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
