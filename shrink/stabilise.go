package shrink

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// Measure is one measurement of Stabilise: a candidate rerun for its
// reproduction rate.
type Measure struct {
	// Back is the candidate's rung on Stabilise's ladder (0: the
	// search's best), What says what it gives back, Candidate sums it up.
	Back      int    `json:"back"`
	What      string `json:"what"`
	Candidate string `json:"candidate"`
	// Verdicts are its reruns' so far (Dirs their runs); Need is how many
	// must fail of Runs for the target.
	Verdicts []Verdict     `json:"verdicts"`
	Dirs     []string      `json:"dirs,omitempty"`
	Need     int           `json:"need"`
	Runs     int           `json:"runs"`
	Took     time.Duration `json:"took"`
	// Done says the measurement ended (progress also sees it under way).
	Done bool `json:"done"`
}

// Fails counts the reruns that showed the target.
func (m Measure) Fails() int { return fails(m.Verdicts) }

// Reached says the candidate reproduced at the target rate.
func (m Measure) Reached() bool { return m.Fails() >= m.Need }

// String is the measurement's progress line.
func (m Measure) String() string {
	line := m.head()
	for _, v := range m.Verdicts {
		line += " " + string(v)
	}
	return line + m.tail()
}

// head opens the measurement's line; tail closes it once it ended.
func (m Measure) head() string { return fmt.Sprintf("measure %s (%s):", m.What, m.Candidate) }

func (m Measure) tail() string {
	if !m.Done {
		return ""
	}
	verdict := "below the target"
	if m.Reached() {
		verdict = "reaches the target"
	}
	return fmt.Sprintf(" -> %d of %d, %s of %d of %d (%v)", m.Fails(), len(m.Verdicts), verdict, m.Need, m.Runs, m.Took.Round(time.Second))
}

// MeasureLines is a progress func for Stabilise that writes each
// measurement as one line to w, growing it by each rerun's verdict as
// it comes (a measurement of 60 s runs takes minutes) and ending it
// when the measurement ends.
func MeasureLines(w io.Writer) func(Measure) {
	open, shown := false, 0
	return func(m Measure) {
		if !open {
			fmt.Fprint(w, m.head())
			open, shown = true, 0
		}
		for _, v := range m.Verdicts[min(shown, len(m.Verdicts)):] {
			fmt.Fprint(w, " "+string(v))
		}
		shown = len(m.Verdicts)
		if m.Done {
			fmt.Fprintln(w, m.tail())
			open = false
		}
	}
}

// rung is a candidate Stabilise may return and what it gives back.
type rung struct {
	c    Candidate
	what string
}

// ladder lists what Stabilise steps back along, from the search's best
// to the start: first the best's faults with the time limit and workers
// of each earlier kept candidate (the latest first: the faults stay
// minimal, the bug gets its time and load back), then each earlier kept
// candidate's faults with the start's time limit and workers. Equal
// neighbours are one rung.
func ladder(res Result) []rung {
	last := len(res.Chain) - 1
	best, start := res.Chain[last], res.Chain[0]
	out := []rung{{best, "the best"}}
	add := func(c Candidate, what string) {
		if fingerprint(c) != fingerprint(out[len(out)-1].c) {
			out = append(out, rung{c, what})
		}
	}
	for i := last - 1; i >= 0; i-- {
		c := best
		c.TimeLimit, c.Workers = res.Chain[i].TimeLimit, res.Chain[i].Workers
		add(c, "the best's faults, more time or workers")
	}
	for i := last - 1; i >= 0; i-- {
		c := res.Chain[i]
		c.TimeLimit, c.Workers = start.TimeLimit, start.Workers
		add(c, fmt.Sprintf("the faults before kept change %d", i+1))
	}
	return out
}

// need is how many of cfg.Reproduce reruns must fail to reach
// cfg.ReproduceTarget.
func need(cfg Config) int {
	return int(math.Ceil(cfg.ReproduceTarget*float64(cfg.Reproduce) - 1e-9))
}

// Stabilise makes res's answer one that reproduces: the search keeps a
// change when one of K reruns fails, so a lucky rerun can leave its best
// at the edge of reproducibility. It reruns res.Best cfg.Reproduce times;
// below cfg.ReproduceTarget it steps back along the ladder (ladder: time
// and workers back first, then faults) by 1, 3, 7, ... rungs, then
// bisects between the last rung below the target and the first at it,
// and returns the lowest rung found at the target, with its rate over
// cfg.Reproduce reruns. A measurement stops once the target is out of reach. When no
// candidate measured reaches it (the original itself fails rarely), the
// one with the highest rate is returned, its rate completed over
// cfg.Reproduce reruns. progress (may be nil) sees each measurement after
// each rerun. ctx ending stops it after the reruns in flight: the lowest
// rung already found at the target is kept, else the search's best.
func Stabilise(ctx context.Context, cfg Config, res Result, run RunFunc, progress func(Measure)) Result {
	if cfg.Reproduce == 0 || len(res.Chain) == 0 {
		return res
	}
	rungs, n := ladder(res), need(cfg)
	last := len(rungs) - 1
	byBack := map[int]int{} // rung -> index in res.Measures, of measurements that ended
	measure := func(back int) (m Measure, ended bool) {
		c := rungs[back].c
		m = Measure{Back: back, What: rungs[back].what, Candidate: c.String(), Need: n, Runs: cfg.Reproduce}
		t0 := time.Now()
		// Every rerun while the target is in reach: the rate of the
		// candidate returned is over cfg.Reproduce.
		verdicts, dirs, _ := try(ctx, cfg, cfg.Reproduce, n, 0, c, run, func(v Verdict, dir string) {
			m.Verdicts = append(m.Verdicts, v)
			if dir != "" {
				m.Dirs = append(m.Dirs, dir)
			}
			m.Took = time.Since(t0)
			if progress != nil {
				progress(m)
			}
		})
		m.Verdicts, m.Dirs, m.Took, m.Done = verdicts, dirs, time.Since(t0), true
		res.Measures = append(res.Measures, m)
		// Cut short by ctx, it says nothing.
		ended = len(verdicts) == cfg.Reproduce || m.Fails()+(cfg.Reproduce-len(verdicts)) < n
		if ended {
			byBack[back] = len(res.Measures) - 1
		}
		if progress != nil {
			progress(m)
		}
		return m, ended
	}
	// below: the highest rung known below the target (-1: none); at: the
	// lowest known to reach it (-1: none).
	below, at := -1, -1
	for back, step := 0, 1; ctx.Err() == nil; {
		m, ended := measure(back)
		if !ended {
			break
		}
		if m.Reached() {
			at = back
			break
		}
		below = back
		if back == last {
			break
		}
		back, step = min(back+step, last), step*2
	}
	for at >= 0 && at-below > 1 && ctx.Err() == nil {
		mid := (below + at) / 2
		m, ended := measure(mid)
		switch {
		case !ended:
		case m.Reached():
			at = mid
		default:
			below = mid
		}
	}
	if at < 0 && len(byBack) > 0 {
		// Nothing reaches the target: the highest rate (the lowest rung
		// on a tie), its rate completed over cfg.Reproduce reruns.
		rate := func(u int) float64 {
			m := res.Measures[byBack[u]]
			return float64(m.Fails()) / float64(len(m.Verdicts))
		}
		for u := range byBack {
			if at < 0 || rate(u) > rate(at) || (rate(u) == rate(at) && u < at) {
				at = u
			}
		}
		if m := &res.Measures[byBack[at]]; len(m.Verdicts) < cfg.Reproduce {
			t0 := time.Now()
			more, dirs, _ := try(ctx, cfg, cfg.Reproduce-len(m.Verdicts), 0, 0, rungs[at].c, run, nil)
			m.Verdicts, m.Dirs, m.Took = append(m.Verdicts, more...), append(m.Dirs, dirs...), m.Took+time.Since(t0)
			if progress != nil {
				progress(*m)
			}
		}
	}
	if at >= 0 {
		m := res.Measures[byBack[at]]
		res.Back, res.BackTo, res.Best = at, rungs[at].what, rungs[at].c
		res.Reproduced, res.Reproductions, res.Reached = m.Fails(), len(m.Verdicts), m.Reached()
	}
	res.Interrupted = ctx.Err() != nil
	return res
}
