package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"

	"olympos.io/encoding/edn"
)

// The readers are differential-tested against well-kept libraries: EDN
// values against olympos.io/encoding/edn, JSON values against
// encoding/json. These oracles convert the libraries' values to the
// shapes the scanner produces (see scanner).

// ednOracle decodes the first EDN value of b with the edn library.
func ednOracle(b []byte) (any, error) {
	var v any
	if err := edn.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return nil, err
	}
	return fromEDN(v)
}

func fromEDN(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string:
		return x, nil
	case edn.Keyword:
		return string(x), nil
	case edn.Symbol:
		return string(x), nil
	case edn.Rune:
		return string(rune(x)), nil
	case rune:
		return string(x), nil
	case big.Int:
		return bigValue(&x), nil
	case *big.Int:
		return bigValue(x), nil
	case edn.Tag:
		return fromEDN(x.Value)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = fromEDN(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			kv, err := fromEDN(derefKey(k))
			if err != nil {
				return nil, err
			}
			name := keyName(kv)
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("oracle: keys collide as %q (e.g. :a and \"a\")", name)
			}
			if out[name], err = fromEDN(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]bool:
		out := make([]any, 0, len(x))
		for k := range x {
			e, err := fromEDN(derefKey(k))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return setOf(out), nil
	}
	return nil, fmt.Errorf("oracle: no conversion for %T", v)
}

func bigValue(x *big.Int) any {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

func derefKey(k any) any {
	if p, ok := k.(*any); ok {
		return *p
	}
	return k
}

// jsonOracle decodes the first JSON value of b with encoding/json; a
// number beyond a float's range, which the scanner refuses (JSON has no
// infinity), is an error too.
func jsonOracle(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("oracle: more than one value")
	}
	return fromJSON(v)
}

func fromJSON(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		if b, ok := new(big.Int).SetString(string(x), 10); ok {
			return b, nil
		}
		return strconv.ParseFloat(string(x), 64)
	case []any:
		for i := range x {
			var err error
			if x[i], err = fromJSON(x[i]); err != nil {
				return nil, err
			}
		}
		return x, nil
	case map[string]any:
		for k := range x {
			var err error
			if x[k], err = fromJSON(x[k]); err != nil {
				return nil, err
			}
		}
		return x, nil
	}
	return v, nil
}
