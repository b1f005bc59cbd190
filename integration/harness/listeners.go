package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A port FreePort hands out is free only until someone binds it, and a
// gateway binds its ports only once its process has started, which on a
// busy machine takes long enough for a parallel test to take one of them
// (an httptest server, another gateway). Caddy listens with SO_REUSEPORT,
// so a second gateway on the same port does not even fail: the kernel
// shares the connections between both. Start therefore checks, through
// /proc, that every socket listening on the gateway's ports is the
// gateway's own, and otherwise starts it again on other ports.

// listenersOn returns the inodes of the TCP sockets (IPv4 and IPv6)
// listening on port.
func listenersOn(port int) (map[string]bool, error) {
	inodes := map[string]bool{}
	suffix := fmt.Sprintf(":%04X", port)
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			if os.IsNotExist(err) && table == "/proc/net/tcp6" {
				continue // no IPv6
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(sc.Text())
			if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], suffix) {
				inodes[f[9]] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return inodes, nil
}

// socketsOf returns the inodes of the sockets process pid has open.
func socketsOf(pid int) (map[string]bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return inodes, nil
}

// portOwnership says who listens on a port: nobody yet, only pid, or
// another process too.
type portOwnership int

const (
	portUnbound portOwnership = iota
	portOwned
	portShared
)

// ownership reports who listens on each of ports, taken together: owned
// only when pid is the only listener on every one of them. The listeners
// are read before the process's sockets, so that a socket the process
// opens meanwhile is not taken for another's.
func ownership(pid int, ports ...int) (portOwnership, error) {
	o, _, err := ownershipDetail(pid, ports...)
	return o, err
}

// ownershipDetail is ownership, and for a shared port, which other
// process listens there ("pid N: command", for the log).
func ownershipDetail(pid int, ports ...int) (portOwnership, string, error) {
	listeners := make([]map[string]bool, len(ports))
	for i, port := range ports {
		var err error
		if listeners[i], err = listenersOn(port); err != nil {
			return portUnbound, "", err
		}
	}
	mine, err := socketsOf(pid)
	if err != nil {
		return portUnbound, "", err
	}
	result := portOwned
	for i, l := range listeners {
		for inode := range l {
			if !mine[inode] {
				return portShared, fmt.Sprintf("port %d: %s", ports[i], socketOwner(inode)), nil
			}
		}
		if len(l) == 0 {
			result = portUnbound
		}
	}
	return result, "", nil
}

// socketOwner names the process that has the socket inode open.
func socketOwner(inode string) string {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if socks, err := socketsOf(pid); err == nil && socks[inode] {
			cmd, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
			return fmt.Sprintf("pid %d: %s", pid, strings.ReplaceAll(strings.TrimSpace(string(cmd)), "\x00", " "))
		}
	}
	return "a process that has closed it since"
}
