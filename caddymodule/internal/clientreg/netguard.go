package clientreg

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// blockedPrefixes are the non-public address ranges a metadata document is
// never fetched from, beyond what netip.Addr's predicates catch (loopback,
// private, link-local, multicast, unspecified). Checked on the address
// actually dialled, after DNS, so a name that resolves (or re-resolves) to
// one of them is refused too.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),        // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),    // CGNAT; Alibaba metadata 100.100.100.200
	netip.MustParsePrefix("192.0.0.0/24"),     // IETF protocol assignments; Oracle metadata 192.0.0.192
	netip.MustParsePrefix("192.0.2.0/24"),     // documentation
	netip.MustParsePrefix("198.18.0.0/15"),    // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),  // documentation
	netip.MustParsePrefix("203.0.113.0/24"),   // documentation
	netip.MustParsePrefix("240.0.0.0/4"),      // reserved, broadcast
	netip.MustParsePrefix("168.63.129.16/32"), // Azure host (wireserver)
	netip.MustParsePrefix("2001:db8::/32"),    // documentation
	netip.MustParsePrefix("2001::/32"),        // Teredo (embeds a hidden IPv4)
	netip.MustParsePrefix("fec0::/10"),        // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),         // discard
}

// embedsIPv4 are IPv6 ranges that carry an IPv4 address in their last 32
// bits (NAT64, RFC 6052; and the 6to4 range's bits 16-48, handled apart).
var nat64 = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

var sixToFour = netip.MustParsePrefix("2002::/16")

// addressError is a dial refused because the address is not public.
type addressError struct{ addr netip.Addr }

func (e *addressError) Error() string {
	return fmt.Sprintf("refusing to connect to non-public address %s", e.addr)
}

// checkPublic returns an *addressError unless a is a public unicast
// address. IPv4-mapped, NAT64 and 6to4 addresses are judged by the IPv4
// address they carry.
func checkPublic(a netip.Addr) error {
	orig := a
	a = a.Unmap()
	if a.Is6() {
		for _, p := range nat64 {
			if p.Contains(a) {
				b := a.As16()
				a = netip.AddrFrom4([4]byte(b[12:16]))
				break
			}
		}
	}
	if a.Is6() && sixToFour.Contains(a) {
		b := a.As16()
		if err := checkPublic(netip.AddrFrom4([4]byte(b[2:6]))); err != nil {
			return &addressError{orig}
		}
	}
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || !a.IsGlobalUnicast() {
		return &addressError{orig}
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return &addressError{orig}
		}
	}
	return nil
}

// dialControl is a net.Dialer Control function: it runs after DNS, on the
// address about to be connected to, and refuses non-public ones.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to unparsable address %q: %w", address, err)
	}
	return checkPublic(ap.Addr())
}

// errUnsafeTransport: the configured client's transport cannot be given the
// address check.
var errUnsafeTransport = errors.New("clientreg: the HTTP client's transport must be an *http.Transport so private addresses can be refused")

// hardenClient returns the client documents are fetched with: a copy of
// base's transport (its TLS settings kept) with a dialer that refuses
// non-public addresses (unless allowPrivate), no proxy (a proxy would be
// the address dialled), no response compression, bounded headers, no
// cookie jar, and no redirects followed (the draft says the server MUST
// NOT follow them; the 3xx is returned and refused).
func hardenClient(base *http.Client, timeout time.Duration, allowPrivate bool) (*http.Client, error) {
	var tr *http.Transport
	switch {
	case base == nil || base.Transport == nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	default:
		t, ok := base.Transport.(*http.Transport)
		if !ok {
			return nil, errUnsafeTransport
		}
		tr = t.Clone()
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = dialControl
	}
	tr.Proxy = nil
	tr.OnProxyConnectResponse = nil
	tr.DialContext = dialer.DialContext
	tr.DialTLSContext = nil
	tr.Dial = nil    //nolint:staticcheck // cleared so DialContext is used
	tr.DialTLS = nil //nolint:staticcheck // cleared so DialContext is used
	tr.DisableCompression = true
	tr.MaxResponseHeaderBytes = 16 << 10
	tr.ResponseHeaderTimeout = timeout
	tr.TLSHandshakeTimeout = timeout
	tr.MaxIdleConnsPerHost = 2
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}
