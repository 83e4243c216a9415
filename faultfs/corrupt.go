package faultfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// CorruptMode is what Corrupt does to the files it chooses.
type CorruptMode string

const (
	// ModeBitflip flips single bits in the written part of each file.
	ModeBitflip CorruptMode = "bitflip"
	// ModeTruncate cuts each file inside its written part.
	ModeTruncate CorruptMode = "truncate"
	// ModeAside copies a chunk of each file aside (nothing is changed),
	// for a later ModeRollback.
	ModeAside CorruptMode = "aside"
	// ModeRollback writes chunks saved aside back where they came from:
	// the file goes back to older content there.
	ModeRollback CorruptMode = "rollback"
)

// CorruptModes are the modes Corrupt knows.
var CorruptModes = []CorruptMode{ModeBitflip, ModeTruncate, ModeAside, ModeRollback}

// CorruptConfig chooses files of a node that is down (nothing may write
// them meanwhile) and says what to do to them.
type CorruptConfig struct {
	// Root is the node's backing directory.
	Root string
	// Patterns choose files by their slash path under Root: a pattern
	// without a slash matches a file's name at any depth ("*.blk"); one
	// with a slash matches the whole path, where ** stands for any number
	// of directories ("jetstream/**/msgs/*.blk"). Other syntax is
	// path.Match's.
	Patterns []string
	Mode     CorruptMode
	// Seed makes every choice: the same seed on the same files makes the
	// same changes.
	Seed uint64
	// Files is how many of the matching files to change (fewer when fewer
	// match).
	Files int
	// Flips is how many bits to flip in each file (ModeBitflip).
	Flips int
	// Aside is the directory ModeAside saves chunks in (with an
	// aside.json manifest, replacing an earlier one) and ModeRollback
	// reads them from.
	Aside string
	// ChunkBytes bounds a chunk saved aside.
	ChunkBytes int64
}

// DefaultCorruptConfig changes one file, one bit, chunks up to 64 KiB.
func DefaultCorruptConfig() CorruptConfig {
	return CorruptConfig{Files: 1, Flips: 1, ChunkBytes: 64 << 10}
}

// Validate says what is missing or wrong.
func (c CorruptConfig) Validate() error {
	switch {
	case c.Root == "":
		return errors.New("faultfs: no root: set --root to the node's backing directory")
	case len(c.Patterns) == 0:
		return errors.New("faultfs: no pattern: set --pattern to the files to change, e.g. '*.blk'")
	case !slices.Contains(CorruptModes, c.Mode):
		return fmt.Errorf("faultfs: mode %q: want one of %v", c.Mode, CorruptModes)
	case c.Files < 1:
		return fmt.Errorf("faultfs: %d files: change at least one", c.Files)
	case c.Mode == ModeBitflip && c.Flips < 1:
		return fmt.Errorf("faultfs: %d flips: flip at least one bit", c.Flips)
	case (c.Mode == ModeAside || c.Mode == ModeRollback) && c.Aside == "":
		return fmt.Errorf("faultfs: mode %s needs --aside DIR (where chunks are kept)", c.Mode)
	case c.Mode == ModeAside && c.ChunkBytes < 1:
		return fmt.Errorf("faultfs: chunk of %d bytes: give a positive size", c.ChunkBytes)
	}
	for _, p := range c.Patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("faultfs: pattern %q is not a glob (path.Match syntax, ** for any directories)", p)
		}
	}
	return nil
}

// CorruptReport is exactly what Corrupt changed (or, for ModeAside, saved).
// It is the JSON `faultfs corrupt` and `faultfs aside` print; Encode and
// ParseCorruptReport are its only encoder and decoder.
type CorruptReport struct {
	Mode     CorruptMode `json:"mode"`
	Root     string      `json:"root"`
	Seed     uint64      `json:"seed"`
	Patterns []string    `json:"patterns"`
	// Flips (bitflip), Truncations (truncate), Chunks (aside: saved;
	// rollback: written back), in the order they were made.
	Flips       []BitFlip    `json:"flips,omitempty"`
	Truncations []Truncation `json:"truncations,omitempty"`
	Chunks      []Chunk      `json:"chunks,omitempty"`
}

// BitFlip is one flipped bit: bit 0 is the byte's least significant.
type BitFlip struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Bit    uint8  `json:"bit"`
}

// Truncation is one file cut short.
type Truncation struct {
	File    string `json:"file"`
	OldSize int64  `json:"old_size"`
	NewSize int64  `json:"new_size"`
}

// Chunk is a range of a file saved aside or written back; Data names its
// bytes' file in the aside directory.
type Chunk struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	Data   string `json:"data"`
}

// Encode is the report's JSON (indented, one trailing newline).
func (r CorruptReport) Encode() []byte { return encodeJSON(r) }

// ParseCorruptReport decodes Encode's output and checks that it holds the
// changes of its mode only.
func ParseCorruptReport(data []byte) (CorruptReport, error) {
	var r CorruptReport
	if err := decodeJSON(data, &r); err != nil {
		return r, fmt.Errorf("parse corruption report: %w (expected the JSON of faultfs corrupt or aside)", err)
	}
	lists := map[CorruptMode]int{ModeBitflip: len(r.Flips), ModeTruncate: len(r.Truncations), ModeAside: len(r.Chunks), ModeRollback: len(r.Chunks)}
	if !slices.Contains(CorruptModes, r.Mode) {
		return r, fmt.Errorf("parse corruption report: mode %q: want one of %v", r.Mode, CorruptModes)
	}
	if lists[r.Mode] == 0 || len(r.Flips)+len(r.Truncations)+len(r.Chunks) != lists[r.Mode] {
		return r, fmt.Errorf("parse corruption report: a %s report must list %s changes and no others", r.Mode, r.Mode)
	}
	return r, nil
}

// manifestName is the aside directory's manifest: the aside report.
const manifestName = "aside.json"

// Corrupt does cfg.Mode to files under cfg.Root (see CorruptMode) and
// reports exactly what it did. Files are chosen among the non-empty
// matches, and offsets drawn from a file's written part (up to its last
// non-zero byte), so nothing lands in preallocated zeros.
func Corrupt(ctx context.Context, cfg CorruptConfig) (CorruptReport, error) {
	if err := cfg.Validate(); err != nil {
		return CorruptReport{}, err
	}
	rep := CorruptReport{Mode: cfg.Mode, Root: cfg.Root, Seed: cfg.Seed, Patterns: cfg.Patterns}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6661756c74667321))
	if cfg.Mode == ModeRollback {
		return rollbackAside(ctx, cfg, rep, rng)
	}
	files, err := chooseFiles(cfg, rng)
	if err != nil {
		return rep, err
	}
	if cfg.Mode == ModeAside {
		if err := os.MkdirAll(cfg.Aside, 0o755); err != nil {
			return rep, fmt.Errorf("faultfs: create the aside directory: %w", err)
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		full := filepath.Join(cfg.Root, filepath.FromSlash(f.rel))
		switch cfg.Mode {
		case ModeBitflip:
			flips, err := flipBits(full, f, cfg.Flips, rng)
			rep.Flips = append(rep.Flips, flips...)
			if err != nil {
				return rep, err
			}
		case ModeTruncate:
			tr := Truncation{File: f.rel, OldSize: f.size, NewSize: rng.Int64N(f.written)}
			if err := os.Truncate(full, tr.NewSize); err != nil {
				return rep, fmt.Errorf("faultfs: truncate %s: %w", f.rel, err)
			}
			rep.Truncations = append(rep.Truncations, tr)
		case ModeAside:
			off := rng.Int64N(f.written)
			c := Chunk{File: f.rel, Offset: off, Length: 1 + rng.Int64N(min(cfg.ChunkBytes, f.written-off)),
				Data: fmt.Sprintf("chunk-%d.bin", len(rep.Chunks))}
			if err := saveChunk(full, filepath.Join(cfg.Aside, c.Data), c); err != nil {
				return rep, err
			}
			rep.Chunks = append(rep.Chunks, c)
		}
	}
	if cfg.Mode == ModeAside {
		if err := os.WriteFile(filepath.Join(cfg.Aside, manifestName), rep.Encode(), 0o644); err != nil {
			return rep, fmt.Errorf("faultfs: write the aside manifest: %w", err)
		}
	}
	return rep, nil
}

// candidate is a matching file: size and written part (up to its last
// non-zero byte).
type candidate struct {
	rel           string
	size, written int64
}

// chooseFiles picks cfg.Files of the matching files that hold a non-zero
// byte, in a seeded order.
func chooseFiles(cfg CorruptConfig, rng *rand.Rand) ([]candidate, error) {
	matches, all, err := matchFiles(cfg.Root, cfg.Patterns)
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		return nil, noMatch(cfg, all)
	}
	var cands []candidate
	for _, rel := range matches {
		c, err := measure(filepath.Join(cfg.Root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if c.written > 0 {
			c.rel = rel
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("faultfs: the %d files under %s matching %s are all empty or zeros: nothing written to change (%s)",
			len(matches), cfg.Root, strings.Join(cfg.Patterns, ","), sample(matches))
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return cands[:min(cfg.Files, len(cands))], nil
}

// matchFiles walks root: the regular files matching a pattern, and every
// regular file, both sorted by slash path.
func matchFiles(root string, patterns []string) (matches, all []string, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && rel == TrashName {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		all = append(all, rel)
		for _, pat := range patterns {
			if matchGlob(pat, rel) {
				matches = append(matches, rel)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("faultfs: list %s: %w (is --root the node's backing directory?)", root, err)
	}
	return matches, all, nil
}

// matchGlob is CorruptConfig.Patterns' matching.
func matchGlob(pattern, rel string) bool {
	if !strings.Contains(pattern, "/") {
		ok, _ := path.Match(pattern, path.Base(rel))
		return ok
	}
	return matchSegments(strings.Split(pattern, "/"), strings.Split(rel, "/"))
}

func matchSegments(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegments(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

func noMatch(cfg CorruptConfig, all []string) error {
	if len(all) == 0 {
		return fmt.Errorf("faultfs: no file under %s matches %s: the directory holds no files (is --root the node's backing directory?)", cfg.Root, strings.Join(cfg.Patterns, ","))
	}
	return fmt.Errorf("faultfs: no file under %s matches %s; it holds %s", cfg.Root, strings.Join(cfg.Patterns, ","), sample(all))
}

// sample lists up to 20 paths.
func sample(paths []string) string {
	if len(paths) <= 20 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:20], ", "), len(paths)-20)
}

// measure is a file's size and written part.
func measure(full string) (candidate, error) {
	f, err := os.Open(full)
	if err != nil {
		return candidate{}, fmt.Errorf("faultfs: open %s: %w", full, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return candidate{}, fmt.Errorf("faultfs: stat %s: %w", full, err)
	}
	c := candidate{size: st.Size()}
	buf := make([]byte, 64<<10)
	for end := c.size; end > 0; {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("faultfs: read %s: %w", full, err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				c.written = start + int64(i) + 1
				return c, nil
			}
		}
		end = start
	}
	return c, nil
}

// flipBits flips n distinct bits in the file's written part.
func flipBits(full string, c candidate, n int, rng *rand.Rand) ([]BitFlip, error) {
	f, err := os.OpenFile(full, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("faultfs: open %s: %w", c.rel, err)
	}
	defer f.Close()
	n = int(min(int64(n), c.written*8))
	seen := map[BitFlip]bool{}
	var flips []BitFlip
	for len(flips) < n {
		fl := BitFlip{File: c.rel, Offset: rng.Int64N(c.written), Bit: uint8(rng.IntN(8))}
		if seen[fl] {
			continue
		}
		seen[fl] = true
		b := []byte{0}
		if _, err := f.ReadAt(b, fl.Offset); err != nil {
			return flips, fmt.Errorf("faultfs: read %s at %d: %w", c.rel, fl.Offset, err)
		}
		b[0] ^= 1 << fl.Bit
		if _, err := f.WriteAt(b, fl.Offset); err != nil {
			return flips, fmt.Errorf("faultfs: write %s at %d: %w", c.rel, fl.Offset, err)
		}
		flips = append(flips, fl)
	}
	return flips, f.Sync()
}

func saveChunk(full, dst string, c Chunk) error {
	f, err := os.Open(full)
	if err != nil {
		return fmt.Errorf("faultfs: open %s: %w", c.File, err)
	}
	defer f.Close()
	b := make([]byte, c.Length)
	if _, err := f.ReadAt(b, c.Offset); err != nil {
		return fmt.Errorf("faultfs: read %s at %d: %w", c.File, c.Offset, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("faultfs: save a chunk of %s aside: %w", c.File, err)
	}
	return nil
}

// rollbackAside writes chunks from the aside manifest back: those of files
// matching the patterns, cfg.Files of them in a seeded order.
func rollbackAside(ctx context.Context, cfg CorruptConfig, rep CorruptReport, rng *rand.Rand) (CorruptReport, error) {
	data, err := os.ReadFile(filepath.Join(cfg.Aside, manifestName))
	if err != nil {
		return rep, fmt.Errorf("faultfs: read the aside manifest: %w (run faultfs aside with --aside %s first)", err, cfg.Aside)
	}
	saved, err := ParseCorruptReport(data)
	if err != nil || saved.Mode != ModeAside {
		return rep, fmt.Errorf("faultfs: %s is not an aside manifest: %w", filepath.Join(cfg.Aside, manifestName), errors.Join(err, errors.New("mode "+string(saved.Mode))))
	}
	var chunks []Chunk
	var files []string
	for _, c := range saved.Chunks {
		files = append(files, c.File)
		if slices.ContainsFunc(cfg.Patterns, func(p string) bool { return matchGlob(p, c.File) }) {
			chunks = append(chunks, c)
		}
	}
	if len(chunks) == 0 {
		return rep, fmt.Errorf("faultfs: no chunk in %s is of a file matching %s; it holds chunks of %s", cfg.Aside, strings.Join(cfg.Patterns, ","), sample(files))
	}
	rng.Shuffle(len(chunks), func(i, j int) { chunks[i], chunks[j] = chunks[j], chunks[i] })
	for _, c := range chunks[:min(cfg.Files, len(chunks))] {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		b, err := os.ReadFile(filepath.Join(cfg.Aside, c.Data))
		if err != nil || int64(len(b)) != c.Length {
			return rep, fmt.Errorf("faultfs: chunk %s of %s: %d bytes, %v (want %d: the aside directory was altered)", c.Data, c.File, len(b), err, c.Length)
		}
		f, err := os.OpenFile(filepath.Join(cfg.Root, filepath.FromSlash(c.File)), os.O_WRONLY, 0)
		if err != nil {
			return rep, fmt.Errorf("faultfs: roll %s back: %w (the file is gone since it was set aside)", c.File, err)
		}
		_, err = f.WriteAt(b, c.Offset)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			return rep, fmt.Errorf("faultfs: roll %s back at %d: %w", c.File, c.Offset, err)
		}
		rep.Chunks = append(rep.Chunks, c)
	}
	return rep, nil
}
