package main

import (
	"fmt"
	"strings"

	"github.com/faultline/faultline/checker"
)

// Exit codes, as Jepsen's CLI: the one table of them.
const (
	exitValid        = 0
	exitInvalid      = 1
	exitUnknown      = 2
	exitUsage        = 254 // bad arguments or usage
	exitHarnessError = 255 // the harness failed, or was interrupted before a verdict
)

// exitCodes says what each exit code means, for --help.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitValid, "valid"},
	{exitInvalid, "invalid"},
	{exitUnknown, "unknown (a checker could not decide: time limit, too large)"},
	{exitUsage, "bad arguments or usage, or an unreadable history"},
	{exitHarnessError, "harness error (or interrupted before a verdict)"},
}

// exitCodesHelp documents the exit codes in --help.
func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString("Exit codes, as Jepsen's CLI:")
	for _, e := range exitCodes {
		fmt.Fprintf(&b, "\n  %-4d %s", e.code, e.meaning)
	}
	return b.String()
}

// verdictCode is a verdict's exit code.
func verdictCode(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitInvalid
	}
	return exitUnknown
}

// exitError carries an exit code out of a cobra command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// withVerdict ends a command with its verdict's exit code.
func withVerdict(v checker.Verdict) error {
	if c := verdictCode(v); c != exitValid {
		return exitError{c}
	}
	return nil
}
