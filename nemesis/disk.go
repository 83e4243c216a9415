package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/faultline/faultline/faultfs"
	"github.com/faultline/faultline/history"
)

// Disk fault ops.
const (
	FPowerOff       = "power-off"
	FPowerOn        = "power-on"
	FCorrupt        = "corrupt"
	FRestartCorrupt = "restart-corrupt"
)

// Corruption modes: the corrupt fault's options.
const (
	CorruptBitflip  = string(faultfs.ModeBitflip)
	CorruptTruncate = string(faultfs.ModeTruncate)
	CorruptRollback = string(faultfs.ModeRollback)
)

// CorruptModes lists the corruption modes.
var CorruptModes = []string{CorruptBitflip, CorruptTruncate, CorruptRollback}

// DiskConfig says where a node's durable files are, for the disk faults:
// the nodes' data is on faultfs (package faultfs), whose backing store a
// down node's files are changed in.
type DiskConfig struct {
	// Root is the directory, in a node, under which Files are matched:
	// the backing store of the node's data directory.
	Root string
	// Files are the globs (relative to Root) of the files the corrupt
	// fault may change: the system's (sut.Info.DiskFiles), or those a
	// spec's "file=GLOB" options name.
	Files []string
	// Flips is how many bits a bitflip flips in each file it changes.
	Flips int
}

// DiskCluster is implemented by a Cluster whose runtime reaches a down
// node's disk: cmd runs as root with the node's volume while the node is
// down (a killed container cannot exec). The corrupt fault needs it.
type DiskCluster interface {
	DiskExec(ctx context.Context, node string, cmd []string) (exitCode int, output string, err error)
}

// parseCorruptWord takes a spec word "file=GLOB" into c: the files the
// corrupt fault chooses among.
func parseCorruptWord(c *Config, w string) bool {
	glob, ok := strings.CutPrefix(w, "file=")
	if ok {
		if _, err := path.Match(glob, ""); err != nil || glob == "" {
			return false
		}
		c.Disk.Files = append(c.Disk.Files, glob)
	}
	return ok
}

// jsonOf is the JSON object in a command's output: faultfs prints one,
// and the exec's output may hold log lines around it.
func jsonOf(out string) []byte {
	i, j := strings.IndexByte(out, '{'), strings.LastIndexByte(out, '}')
	if i < 0 || j < i {
		return []byte(out)
	}
	return []byte(out[i : j+1])
}

// faultfsRun runs a faultfs command line in node (running: exec; down:
// the runtime's disk exec) and returns its JSON output.
func faultfsRun(ctx context.Context, cl Cluster, node string, cmd []string, down bool) ([]byte, error) {
	exec := cl.Exec
	if down {
		d, ok := cl.(DiskCluster)
		if !ok {
			return nil, fmt.Errorf("nemesis: %s: the runtime cannot reach a down node's disk", node)
		}
		exec = d.DiskExec
	}
	code, out, err := exec(ctx, node, cmd)
	if err != nil {
		return nil, fmt.Errorf("nemesis: %s: %s: %w", node, strings.Join(cmd, " "), err)
	}
	if code != 0 {
		return nil, exitError(node, cmd, code, out)
	}
	return jsonOf(out), nil
}

// exitError is a faultfs command's failure in node, with what it printed.
func exitError(node string, cmd []string, code int, out string) error {
	return fmt.Errorf("nemesis: %s: %s: exit %d: %s", node, strings.Join(cmd, " "), code, strings.TrimSpace(out))
}

// NewPower returns the nemesis for power-off / power-on: a power failure
// of the target nodes (chosen as kill chooses them), each node's at the
// same moment. faultfs, which the node's data lives on, kills the node's
// processes and drops every write, create, rename and unlink it had not
// made durable (fsync, fdatasync, a directory fsync); then the node is
// recorded killed. The completion is {"target", "nodes", "dropped": {node:
// {"bytes", "files", "entries"}}}: a node counts only once faultfs's
// report of what it dropped was read back. power-on restarts every node
// that is down, as start does.
func NewPower(cl Cluster, rng *rand.Rand, targets []string) Nemesis {
	return &procNemesis{cl: cl, rng: rng, targets: targets, startF: FPowerOff, stopF: FPowerOn,
		eligible: isRunning, hit: map[string]bool{},
		down: func(ctx context.Context, _ history.Op, nodes []string, value map[string]any) ([]string, error) {
			var mu sync.Mutex
			dropped := map[string]any{}
			value["dropped"] = dropped
			ok, err := onNodes(nodes, func(n string) error {
				rep, err := powerFail(ctx, cl, n)
				if err != nil {
					return err
				}
				mu.Lock()
				dropped[n] = lossValue(rep)
				mu.Unlock()
				return nil
			})
			// The node's processes are gone with its power: record it
			// down, as a kill does.
			done, kerr := kill(ctx, cl, ok)
			return done, errors.Join(err, kerr)
		}}
}

// powerFail runs `faultfs powerfail` in node and returns its report.
// The power failure kills every process of the node once the client hung
// up, the client itself if it has not exited by then: an exit by SIGKILL
// (137) after the whole report was printed is a power failure done (the
// daemon answers only once the writes are dropped).
func powerFail(ctx context.Context, cl Cluster, node string) (faultfs.PowerFailReport, error) {
	cmd := faultfs.PowerFailArgs(faultfsPath, faultfs.Control)
	code, out, err := cl.Exec(ctx, node, cmd)
	if err != nil {
		return faultfs.PowerFailReport{}, fmt.Errorf("nemesis: %s: %s: %w", node, strings.Join(cmd, " "), err)
	}
	rep, perr := faultfs.ParsePowerFailReport(jsonOf(out))
	if code != 0 && (code != exitSIGKILL || perr != nil) {
		return rep, exitError(node, cmd, code, out)
	}
	if perr != nil {
		return rep, fmt.Errorf("nemesis: %s: %w", node, perr)
	}
	return rep, nil
}

// exitSIGKILL is the exit status of a process killed by SIGKILL.
const exitSIGKILL = 128 + 9

// maxListed bounds the files and entries a power failure's value names
// per node (all are counted).
const maxListed = 8

// lossValue is what a power failure dropped on a node, as a history
// value: totals, and the first files that lost bytes and directory
// operations undone.
func lossValue(rep faultfs.PowerFailReport) map[string]any {
	v := map[string]any{"bytes": rep.BytesDropped, "files": int64(rep.FilesChanged), "entries": int64(rep.EntriesUndone)}
	var files, entries []any
	for _, f := range rep.Files[:min(len(rep.Files), maxListed)] {
		files = append(files, fmt.Sprintf("%s (%d bytes)", f.Path, f.BytesDropped))
	}
	for _, e := range rep.Entries[:min(len(rep.Entries), maxListed)] {
		entries = append(entries, strings.TrimSpace(e.Op+" "+e.Path+" "+e.To))
	}
	if len(files) > 0 {
		v["lost_files"] = files
	}
	if len(entries) > 0 {
		v["undone"] = entries
	}
	return v
}

// faultfsPath is faultfs's path in a node image (engine.FaultfsPath; the
// nemesis does not import the runtimes).
const faultfsPath = "/usr/local/bin/faultfs"

// asideWait is how long the rollback mode lets the nodes write after it
// copied chunks aside, so that writing them back rolls something back.
var asideWait = time.Second

// NewCorrupt returns the nemesis for corrupt / restart-corrupt. corrupt
// takes the target nodes (default a random one of targets, chosen among
// the running nodes of one minority drawn at the first corrupt: the nodes
// a run corrupts never add up to a majority) down with SIGKILL and changes their files
// (DiskConfig: the system's durable files) through faultfs, by the mode of
// the op's value (default a random one of modes): bitflip flips seeded
// bits in the written part of a file, truncate cuts a file short,
// rollback writes back chunks copied aside while the node was still up.
// The nodes stay down; restart-corrupt restarts every node that is down.
// The completion is {"mode", "target", "seed", "nodes", "changes": {node:
// faultfs's report of exactly what it changed}}.
func NewCorrupt(cl Cluster, rng *rand.Rand, cfg DiskConfig, modes, targets []string) Nemesis {
	p := &procNemesis{cl: cl, rng: rng, targets: targets, startF: FCorrupt, stopF: FRestartCorrupt,
		eligible: isRunning, hit: map[string]bool{}, lasting: true}
	p.down = func(ctx context.Context, op history.Op, nodes []string, value map[string]any) ([]string, error) {
		mode := stringArg(op.Value, "mode", "")
		if mode == "" && len(modes) > 0 {
			mode = modes[rng.IntN(len(modes))]
		}
		seed := uint64(intArg(op.Value, "seed", int64(rng.Uint64N(1<<32))))
		value["mode"], value["seed"] = mode, int64(seed)
		corrupt := func(n string, m faultfs.CorruptMode, down bool) (faultfs.CorruptReport, error) {
			c := faultfs.DefaultCorruptConfig()
			c.Root, c.Patterns, c.Mode, c.Seed, c.Flips, c.Aside = cfg.Root, cfg.Files, m, seed, max(cfg.Flips, 1), faultfs.Aside
			out, err := faultfsRun(ctx, cl, n, faultfs.CorruptArgs(faultfsPath, c), down)
			if err != nil {
				return faultfs.CorruptReport{}, err
			}
			rep, err := faultfs.ParseCorruptReport(out)
			if err != nil {
				return rep, fmt.Errorf("nemesis: %s: %w", n, err)
			}
			return rep, nil
		}
		if mode == CorruptRollback {
			if _, err := onNodes(nodes, func(n string) error {
				_, err := corrupt(n, faultfs.ModeAside, false)
				return err
			}); err != nil {
				return nil, err
			}
			sleepUntil(ctx, time.Now().Add(asideWait))
		}
		down, err := kill(ctx, cl, nodes)
		if err != nil {
			return down, err
		}
		var mu sync.Mutex
		changes := map[string]any{}
		value["changes"] = changes
		return onNodes(down, func(n string) error {
			rep, err := corrupt(n, faultfs.CorruptMode(mode), true)
			if err != nil {
				return err
			}
			mu.Lock()
			changes[n] = changeValue(rep)
			mu.Unlock()
			return nil
		})
	}
	return p
}

// changeValue is what a corruption changed, as a history value: each
// file with the offset and bit flipped, the sizes it was cut from and to,
// or the range written back.
func changeValue(rep faultfs.CorruptReport) []any {
	var out []any
	for _, f := range rep.Flips {
		out = append(out, map[string]any{"file": f.File, "offset": f.Offset, "bit": int64(f.Bit)})
	}
	for _, t := range rep.Truncations {
		out = append(out, map[string]any{"file": t.File, "old_size": t.OldSize, "new_size": t.NewSize})
	}
	for _, c := range rep.Chunks {
		out = append(out, map[string]any{"file": c.File, "offset": c.Offset, "length": c.Length})
	}
	return out
}
