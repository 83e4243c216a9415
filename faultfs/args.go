package faultfs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Where a node whose data lives on faultfs keeps things: the runtime
// mounts the node's durable volume at Volume and runs the node's command
// under `faultfs mount` (MountArgs), which serves Backing at the node's
// data root.
const (
	// Volume is where the node's durable volume is mounted.
	Volume = "/disk"
	// Backing is the directory the filesystem serves (on the volume).
	Backing = Volume + "/data"
	// Control is the daemon's control socket.
	Control = Volume + "/faultfs.sock"
	// Aside holds the chunks `faultfs aside` saves for a later rollback.
	Aside = Volume + "/aside"
)

// The command lines of the faultfs binary: each is written by an ...Args
// function here and read by the matching Parse... function (which the
// command uses), so the two cannot drift.

// MountArgs is the command line that runs cfg under faultfs's binary bin:
// "bin mount --backing B --mount M --control C [--uid N --gid N] -- CMD...".
func MountArgs(bin string, cfg DaemonConfig) []string {
	args := []string{bin, "mount", "--backing", cfg.Backing, "--mount", cfg.Mountpoint, "--control", cfg.Control}
	if cfg.UID >= 0 {
		args = append(args, "--uid", strconv.Itoa(cfg.UID))
	}
	if cfg.GID >= 0 {
		args = append(args, "--gid", strconv.Itoa(cfg.GID))
	}
	if cfg.MaxJournalBytes != DefaultConfig().MaxJournalBytes {
		args = append(args, "--journal-limit", strconv.FormatInt(cfg.MaxJournalBytes, 10))
	}
	if cfg.Debug {
		args = append(args, "--debug")
	}
	return append(append(args, "--"), cfg.Command...)
}

// PowerFailArgs is the command line that fails the power of the mount
// whose daemon listens on control, under model.
func PowerFailArgs(bin, control string, model PowerModel) []string {
	return []string{bin, "powerfail", "--control", control, "--model", string(model)}
}

// CorruptArgs is the command line that runs cfg: "bin corrupt ..." or,
// for ModeAside, "bin aside ...".
func CorruptArgs(bin string, cfg CorruptConfig) []string {
	cmd := "corrupt"
	if cfg.Mode == ModeAside {
		cmd = "aside"
	}
	args := []string{bin, cmd, "--root", cfg.Root, "--pattern", strings.Join(cfg.Patterns, ","),
		"--seed", strconv.FormatUint(cfg.Seed, 10), "--files", strconv.Itoa(cfg.Files)}
	if cfg.Aside != "" {
		args = append(args, "--aside", cfg.Aside)
	}
	switch cfg.Mode {
	case ModeAside:
		args = append(args, "--chunk", strconv.FormatInt(cfg.ChunkBytes, 10))
	default:
		args = append(args, "--mode", string(cfg.Mode), "--flips", strconv.Itoa(cfg.Flips))
	}
	return args
}

// ArgsError is a command line Parse... refuses: a usage error.
type ArgsError struct{ Msg string }

func (e *ArgsError) Error() string { return e.Msg }

func usage(format string, a ...any) error { return &ArgsError{Msg: fmt.Sprintf(format, a...)} }

func flags(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usage("%s: %v", fs.Name(), err)
	}
	return nil
}

// ParseMountArgs reads the arguments of `faultfs mount` (after the
// command word).
func ParseMountArgs(args []string) (DaemonConfig, error) {
	cfg := DefaultDaemonConfig()
	fs := flags("mount")
	fs.StringVar(&cfg.Backing, "backing", "", "")
	fs.StringVar(&cfg.Mountpoint, "mount", "", "")
	fs.StringVar(&cfg.Control, "control", "", "")
	fs.IntVar(&cfg.UID, "uid", -1, "")
	fs.IntVar(&cfg.GID, "gid", -1, "")
	fs.Int64Var(&cfg.MaxJournalBytes, "journal-limit", cfg.MaxJournalBytes, "")
	fs.BoolVar(&cfg.Debug, "debug", false, "")
	if err := parse(fs, args); err != nil {
		return cfg, err
	}
	cfg.Command = fs.Args()
	if err := cfg.Validate(); err != nil {
		return cfg, usage("%v", err)
	}
	return cfg, nil
}

// ParseControlArgs reads the arguments of `faultfs status` (after the
// command word): the control socket.
func ParseControlArgs(cmd string, args []string) (string, error) {
	fs := flags(cmd)
	control := fs.String("control", "", "")
	if err := parse(fs, args); err != nil {
		return "", err
	}
	if *control == "" || fs.NArg() > 0 {
		return "", usage("%s: give --control SOCKET and nothing else", cmd)
	}
	return *control, nil
}

// ParsePowerFailArgs reads the arguments of `faultfs powerfail` (after
// the command word): the control socket and the model (default
// PowerPOSIX).
func ParsePowerFailArgs(args []string) (control string, model PowerModel, err error) {
	fs := flags("powerfail")
	fs.StringVar(&control, "control", "", "")
	m := fs.String("model", string(PowerPOSIX), "")
	if err := parse(fs, args); err != nil {
		return "", "", err
	}
	if control == "" || fs.NArg() > 0 {
		return "", "", usage("powerfail: give --control SOCKET [--model %v] and nothing else", PowerModels)
	}
	model = PowerModel(*m)
	if err := model.Validate(); err != nil {
		return "", "", usage("powerfail: %v", err)
	}
	return control, model, nil
}

// ParseCorruptArgs reads the arguments of `faultfs corrupt` or `faultfs
// aside` (cmd; after the command word).
func ParseCorruptArgs(cmd string, args []string) (CorruptConfig, error) {
	cfg := DefaultCorruptConfig()
	var patterns, mode string
	fs := flags(cmd)
	fs.StringVar(&cfg.Root, "root", "", "")
	fs.StringVar(&patterns, "pattern", "", "")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "")
	fs.IntVar(&cfg.Files, "files", cfg.Files, "")
	fs.StringVar(&cfg.Aside, "aside", "", "")
	switch cmd {
	case "corrupt":
		fs.StringVar(&mode, "mode", "", "")
		fs.IntVar(&cfg.Flips, "flips", cfg.Flips, "")
	case "aside":
		mode = string(ModeAside)
		fs.Int64Var(&cfg.ChunkBytes, "chunk", cfg.ChunkBytes, "")
	default:
		return cfg, errors.New("faultfs: ParseCorruptArgs takes corrupt or aside")
	}
	if err := parse(fs, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usage("%s: unexpected arguments %q", cmd, fs.Args())
	}
	seeded := false
	fs.Visit(func(f *flag.Flag) { seeded = seeded || f.Name == "seed" })
	if !seeded {
		return cfg, usage("%s: give --seed N (the same seed makes the same changes)", cmd)
	}
	cfg.Mode = CorruptMode(mode)
	if cmd == "corrupt" && cfg.Mode == ModeAside {
		return cfg, usage("corrupt: --mode aside is the aside command")
	}
	if patterns != "" {
		cfg.Patterns = strings.Split(patterns, ",")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usage("%v", err)
	}
	return cfg, nil
}
