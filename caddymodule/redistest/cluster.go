package redistest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// clusterSize is the number of masters in a test cluster.
	clusterSize = 3
	// clusterSlots is the number of hash slots in Redis Cluster.
	clusterSlots = 16384
	// clusterTimeout bounds the wait for a new cluster to reach state ok;
	// adminTimeout bounds one management command. Both mean "hung", never
	// merely "slow" on a loaded machine: waits end as soon as the cluster
	// is ready.
	clusterTimeout = 60 * time.Second
	adminTimeout   = 10 * time.Second
)

// Cluster is a Redis Cluster of three masters without replicas, each a
// Server on its own loopback port, with the 16384 slots split evenly.
type Cluster struct {
	nodes  []*Server
	shared bool
}

// StartCluster starts a private three-master Redis Cluster and waits until
// every node reports cluster_state:ok. The nodes are killed and their
// directories removed when the test ends. It fails the test if redis-server
// is not installed or the cluster does not form.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.shutdown)
	return c
}

// clusterConf is the configuration of a cluster node with client port
// ports[0] and cluster bus port ports[1].
func clusterConf(ports []int) string {
	return baseConf(ports[0]) + strings.Join([]string{
		"cluster-enabled yes",
		"cluster-config-file nodes.conf",
		"cluster-node-timeout 5000",
		"cluster-port " + strconv.Itoa(ports[1]),
		"cluster-announce-ip 127.0.0.1",
		"",
	}, "\n")
}

// startCluster starts the nodes in parallel, assigns slots, joins them and
// waits for the cluster to be ok.
func startCluster() (*Cluster, error) {
	c := &Cluster{nodes: make([]*Server, clusterSize)}
	errs := make([]error, clusterSize)
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Go(func() {
			c.nodes[i], errs[i] = startServer(2, clusterConf)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.shutdown()
		return nil, fmt.Errorf("starting cluster nodes: %w", err)
	}
	if err := c.form(); err != nil {
		c.shutdown()
		return nil, err
	}
	return c, nil
}

// form gives each node an equal share of the slots and a distinct config
// epoch, introduces the nodes to the first one and waits for state ok.
func (c *Cluster) form() error {
	for i, n := range c.nodes {
		first := i * clusterSlots / clusterSize
		last := (i+1)*clusterSlots/clusterSize - 1
		if _, err := do(n.Addr(), adminTimeout, "CLUSTER", "ADDSLOTSRANGE",
			strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			return fmt.Errorf("assigning slots %d-%d to %s: %w", first, last, n.Addr(), err)
		}
		if _, err := do(n.Addr(), adminTimeout, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("setting config epoch on %s: %w", n.Addr(), err)
		}
	}
	seed := c.nodes[0]
	for _, n := range c.nodes[1:] {
		busPort := strconv.Itoa(n.busPort())
		if _, err := do(seed.Addr(), adminTimeout, "CLUSTER", "MEET", "127.0.0.1",
			strconv.Itoa(n.port), busPort); err != nil {
			return fmt.Errorf("introducing %s to %s: %w", n.Addr(), seed.Addr(), err)
		}
	}
	return c.waitOK()
}

// waitOK waits until every node knows all nodes and reports state ok.
func (c *Cluster) waitOK() error {
	deadline := time.Now().Add(clusterTimeout)
	want := []string{
		"cluster_state:ok",
		"cluster_slots_ok:" + strconv.Itoa(clusterSlots),
		"cluster_known_nodes:" + strconv.Itoa(clusterSize),
	}
	var last string
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if !n.Running() {
				return fmt.Errorf("cluster node %s exited while forming; last lines of its log:\n%s", n.Addr(), logTail(n.dir))
			}
		}
		ok := true
		for _, n := range c.nodes {
			info, err := doString(n.Addr(), adminTimeout, "CLUSTER", "INFO")
			if err != nil {
				last = err.Error()
				ok = false
				break
			}
			if !containsAll(info, want) {
				last = n.Addr() + ": " + strings.Join(strings.Fields(info)[:4], " ")
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster not ok after %v: %s", clusterTimeout, last)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// busPort returns the cluster bus port of a cluster node.
func (s *Server) busPort() int {
	for _, line := range strings.Split(s.conf, "\n") {
		if v, ok := strings.CutPrefix(line, "cluster-port "); ok {
			p, _ := strconv.Atoi(v)
			return p
		}
	}
	return s.port + 10000
}

// Addrs returns the "127.0.0.1:PORT" addresses of the three masters, for
// redis.ClusterOptions.Addrs.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL returns a URL for redis.ParseClusterURL naming every master:
// "redis://127.0.0.1:P1?addr=127.0.0.1:P2&addr=127.0.0.1:P3".
func (c *Cluster) URL() string {
	q := url.Values{}
	for _, n := range c.nodes[1:] {
		q.Add("addr", n.Addr())
	}
	return "redis://" + c.nodes[0].Addr() + "?" + q.Encode()
}

// Nodes returns the cluster's nodes. Stopping one of a private cluster
// simulates a failed master (there are no replicas to take over).
func (c *Cluster) Nodes() []*Server {
	return append([]*Server(nil), c.nodes...)
}

// shutdown kills every node and removes their directories.
func (c *Cluster) shutdown() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if n != nil {
			wg.Go(n.shutdown)
		}
	}
	wg.Wait()
}
