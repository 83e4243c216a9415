package workload

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestIsDefinite(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection reset"), false},
		{context.DeadlineExceeded, false},
		{&DefiniteError{Reason: "insufficient funds"}, true},
		{storeError{true}, true},
		{fmt.Errorf("txn: %w", storeError{true}), true},
		{storeError{false}, false},
		{fmt.Errorf("get: %w", storeError{false}), false},
	} {
		if got := IsDefinite(tc.err); got != tc.want {
			t.Errorf("IsDefinite(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
