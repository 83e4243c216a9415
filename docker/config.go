package docker

import "time"

// DefaultStartTimeout bounds Start when the spec leaves StartTimeout at
// zero: containers are up and elected within seconds.
const DefaultStartTimeout = 60 * time.Second
