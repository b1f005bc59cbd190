package integration_test

import (
	"fmt"
	"strings"
)

// behaviourStoreTimeout replaces the gateways' 50 ms Redis timeout in
// tests about behaviour rather than latency: long enough to mean "hung",
// never merely "slow" on a loaded machine. Tests about an outage say so
// and keep the default.
const behaviourStoreTimeout = "10s"

// redisStore returns a store block for a standalone Redis URL with
// behaviourStoreTimeout.
func redisStore(url string) string {
	return fmt.Sprintf("store %s {\n\t\t\ttimeout %s\n\t\t}", url, behaviourStoreTimeout)
}

// redisClusterStore returns a store block for a Redis Cluster with
// behaviourStoreTimeout.
func redisClusterStore(addrs []string) string {
	return fmt.Sprintf("store {\n\t\t\taddresses %s\n\t\t\tcluster\n\t\t\ttimeout %s\n\t\t}", strings.Join(addrs, " "), behaviourStoreTimeout)
}
