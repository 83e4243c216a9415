package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// envDefaults are set in the process environment when unset, before
// testcontainers-go reads its configuration: no Ryuk sidecar (its image
// cannot be pulled here) and the engine is reached on 127.0.0.1 (otherwise
// testcontainers guesses a gateway address that must never be contacted).
var envDefaults = [][2]string{
	{"TESTCONTAINERS_RYUK_DISABLED", "true"},
	{"TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1"},
}

var tcLoggerOnce sync.Once

// SetEnvDefaults applies envDefaults and routes testcontainers-go's own log
// lines to slog at debug level. Programs call it where they start (main);
// the functions of this package that reach the engine call it too, so a
// library user who forgets still never contacts a guessed gateway.
func SetEnvDefaults() {
	for _, kv := range envDefaults {
		if _, ok := os.LookupEnv(kv[0]); !ok {
			os.Setenv(kv[0], kv[1])
		}
	}
	tcLoggerOnce.Do(func() { tclog.SetDefault(Printf{}) })
}

// Printf adapts slog to testcontainers-go's Printf logger (at debug level).
type Printf struct{}

// Printf implements testcontainers-go's log.Logger.
func (Printf) Printf(format string, v ...any) {
	slog.Debug("testcontainers: " + fmt.Sprintf(format, v...))
}

// Client returns a Docker engine client configured like testcontainers-go
// (DOCKER_HOST, docker context, ~/.testcontainers.properties).
func Client(ctx context.Context) (*testcontainers.DockerClient, error) {
	SetEnvDefaults()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to the Docker engine: %w (is the daemon running? check DOCKER_HOST)", err)
	}
	return cli, nil
}

// Available reports whether the Docker engine answers a ping within a few
// seconds; the error says what is wrong.
func Available(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("ping the Docker engine: %w (is the daemon running? check DOCKER_HOST)", err)
	}
	return nil
}
