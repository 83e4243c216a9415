package raftlog

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The kill test's child is this test binary run with these variables set.
const (
	envCrashDir   = "RAFTLOG_CRASH_DIR"
	envCrashSeed  = "RAFTLOG_CRASH_SEED"
	envCrashRound = "RAFTLOG_CRASH_ROUND"
)

// crashModel is what the log must hold: entries [first, last] with their
// terms, and the stable store's values.
type crashModel struct {
	first, last uint64
	terms       []uint64 // terms[i] is the term of entry first+i
	maxTerm     uint64
	kv          map[string]string
}

func (m crashModel) clone() crashModel {
	m.terms = slices.Clone(m.terms)
	m.kv = maps.Clone(m.kv)
	return m
}

// truncated keeps [first, c] (c < first: empty).
func (m crashModel) truncated(c uint64) crashModel {
	m = m.clone()
	if c < m.first {
		m.first, m.last, m.terms = 0, 0, nil
		return m
	}
	m.terms = m.terms[:c-m.first+1]
	m.last = c
	return m
}

type crashOp struct {
	kind     string // append, truncate, compact, clear, set
	from, to uint64 // append: indexes; truncate: from; compact: to
	term     uint64
	key, val string
}

// genOp picks the next op for m; the child and the parent both call it
// with the same random source, so they agree on the sequence.
func genOp(r *rand.Rand, m crashModel, round, i int) crashOp {
	k := r.IntN(100)
	switch {
	case k < 8 && m.last > m.first:
		return crashOp{kind: "truncate", from: m.first + 1 + uint64(r.Int64N(int64(m.last-m.first)))}
	case k < 16 && m.last > m.first:
		return crashOp{kind: "compact", to: m.first + uint64(r.Int64N(int64(m.last-m.first)))}
	case k < 18 && m.last > 0:
		return crashOp{kind: "clear"}
	case k < 30:
		return crashOp{kind: "set", key: string(rune('a' + r.IntN(2))), val: fmt.Sprintf("%d.%d", round, i)}
	}
	from := m.last + 1
	if m.last == 0 {
		from = 1 + uint64(r.IntN(500))
	}
	return crashOp{kind: "append", from: from, to: from + uint64(r.IntN(16)), term: max(m.maxTerm, 1)}
}

func (op crashOp) do(l *Log, m crashModel) error {
	switch op.kind {
	case "append":
		return l.StoreLogs(mkLogs(op.from, op.to, op.term))
	case "truncate":
		return l.DeleteRange(op.from, m.last)
	case "compact":
		return l.DeleteRange(m.first, op.to)
	case "clear":
		return l.DeleteRange(m.first, m.last)
	}
	return l.Set([]byte(op.key), []byte(op.val))
}

// after is m once op is done.
func (op crashOp) after(m crashModel) crashModel {
	switch op.kind {
	case "append":
		m = m.clone()
		if m.last == 0 {
			m.first = op.from
		}
		for range op.to - op.from + 1 {
			m.terms = append(m.terms, op.term)
		}
		m.last = op.to
	case "truncate":
		m = m.truncated(op.from - 1)
		m.maxTerm++ // the next leader's entries differ
	case "compact":
		m = m.clone()
		m.terms = m.terms[op.to+1-m.first:]
		m.first = op.to + 1
	case "clear":
		m = m.truncated(0)
	case "set":
		m = m.clone()
		m.kv[op.key] = op.val
	}
	return m
}

// partial lists the states a kill in the middle of op may leave behind,
// besides m and op.after(m): a prefix of an append, any cut between the
// old and the new tail, a prefix of the log while it is being cleared.
func (op crashOp) partial(m crashModel) []crashModel {
	var out []crashModel
	switch op.kind {
	case "append":
		for c := op.from; c < op.to; c++ {
			out = append(out, crashOp{kind: "append", from: op.from, to: c, term: op.term}.after(m))
		}
	case "truncate":
		for c := op.from; c < m.last; c++ {
			out = append(out, m.truncated(c))
		}
	case "clear":
		for c := m.first; c < m.last; c++ {
			out = append(out, m.truncated(c))
		}
	}
	return out
}

// readModel reads everything l holds, checking each entry's bytes.
func readModel(l *Log) (crashModel, error) {
	m := crashModel{kv: map[string]string{}}
	m.first, _ = l.FirstIndex()
	m.last, _ = l.LastIndex()
	for i := m.first; i <= m.last && m.last > 0; i++ {
		var e raft.Log
		if err := l.GetLog(i, &e); err != nil {
			return m, fmt.Errorf("GetLog(%d): %w", i, err)
		}
		if !sameLog(&e, mkLog(i, e.Term)) {
			return m, fmt.Errorf("entry %d (term %d) has the wrong content", i, e.Term)
		}
		m.terms = append(m.terms, e.Term)
		m.maxTerm = max(m.maxTerm, e.Term)
	}
	for _, k := range []string{"a", "b"} {
		if v, err := l.Get([]byte(k)); err == nil {
			m.kv[k] = string(v)
		}
	}
	return m, nil
}

// startRound gives round's appends terms above every earlier round's, so
// an entry deleted in one round never has the content of a later one.
func startRound(m crashModel, round int) crashModel {
	m.maxTerm = max(m.maxTerm, uint64(round)*10000+1)
	return m
}

func (m crashModel) String() string {
	return fmt.Sprintf("[%d, %d] terms %v kv %v", m.first, m.last, m.terms, m.kv)
}

func sameModel(a, b crashModel) bool {
	return a.first == b.first && a.last == b.last && slices.Equal(a.terms, b.terms) && maps.Equal(a.kv, b.kv)
}

func crashLogConfig(dir string) Config {
	cfg := testConfig(dir)
	cfg.SegmentSize = 16 << 10
	return cfg
}

// TestKillDuringWrites kills a child process that appends, truncates,
// compacts, clears and sets in a loop, at a random moment, many times over
// the same directory. After each kill the log must open and hold exactly
// the state after the ops the child reported done, or a state that the op
// in progress may leave (a prefix of its batch, a cut of the tail it was
// removing). Nothing acknowledged may be lost, nothing deleted may return.
func TestKillDuringWrites(t *testing.T) {
	seed := testSeed(t)
	rounds := 30
	if testing.Short() {
		rounds = 6
	}
	dir := t.TempDir()
	m := crashModel{kv: map[string]string{}}
	mid := 0 // rounds killed with an op in progress
	r := rand.New(rand.NewPCG(seed, 3))
	for round := range rounds {
		acked, err := runCrashChild(t, dir, seed, round, time.Duration(r.IntN(120))*time.Millisecond)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Replay the child's acknowledged ops on the model.
		m = startRound(m, round)
		gen := rand.New(rand.NewPCG(seed, uint64(round)+100))
		for i := range acked {
			m = genOp(gen, m, round, i).after(m)
		}
		pending := genOp(gen, m, round, acked)
		allowed := append([]crashModel{m, pending.after(m)}, pending.partial(m)...)
		l, err := Open(crashLogConfig(dir))
		if err != nil {
			t.Fatalf("round %d: open after the kill (%d ops acknowledged, %s in progress): %v", round, acked, pending.kind, err)
		}
		if d := l.Damage(); len(d) > 0 {
			t.Fatalf("round %d: a kill during %s was taken for damage: %v", round, pending.kind, d)
		}
		got, err := readModel(l)
		l.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		ok := false
		for i, a := range allowed {
			if sameModel(got, a) {
				ok = true
				if i > 0 {
					mid++
				}
			}
		}
		if !ok {
			t.Fatalf("round %d: after %d acknowledged ops and a kill during %+v the log holds\n  %v\nwant one of\n  %v",
				round, acked, pending, got, allowed)
		}
		m = got
	}
	t.Logf("%d rounds, %d killed after the op in progress reached the disk (fully or in part)", rounds, mid)
}

// runCrashChild runs the child on dir and SIGKILLs it after wait; it
// returns how many ops the child reported done.
func runCrashChild(t *testing.T, dir string, seed uint64, round int, wait time.Duration) (int, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashSeed+"="+strconv.FormatUint(seed, 10), envCrashRound+"="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	acked := 0
	var timer <-chan time.Time
	var tail []string
	for {
		select {
		case line, open := <-lines:
			if !open {
				err := cmd.Wait()
				return 0, fmt.Errorf("child exited before the kill (%v): %s\n%s", err, strings.Join(tail, "\n"), stderr.String())
			}
			switch {
			case line == "ready":
				timer = time.After(wait)
			case strings.HasPrefix(line, "ok "):
				acked++
			default:
				tail = append(tail, line)
			}
		case <-timer:
			_ = cmd.Process.Kill()
			for line := range lines { // what it wrote before dying counts
				if strings.HasPrefix(line, "ok ") {
					acked++
				}
			}
			_ = cmd.Wait()
			return acked, nil
		}
	}
}

// TestCrashChild is TestKillDuringWrites's child process; run alone it
// skips.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("the child of TestKillDuringWrites")
	}
	seed, _ := strconv.ParseUint(os.Getenv(envCrashSeed), 10, 64)
	round, _ := strconv.Atoi(os.Getenv(envCrashRound))
	l, err := Open(crashLogConfig(dir))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	m, err := readModel(l)
	if err != nil {
		fmt.Println("read:", err)
		os.Exit(1)
	}
	m = startRound(m, round)
	gen := rand.New(rand.NewPCG(seed, uint64(round)+100))
	os.Stdout.WriteString("ready\n")
	for i := 0; ; i++ {
		op := genOp(gen, m, round, i)
		if err := op.do(l, m); err != nil {
			fmt.Printf("op %d %+v: %v\n", i, op, err)
			os.Exit(1)
		}
		m = op.after(m)
		os.Stdout.WriteString("ok " + strconv.Itoa(i) + "\n")
	}
}
