package clientreg

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
)

func TestCheckPublic(t *testing.T) {
	t.Parallel()
	blocked := []string{
		"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "0.1.2.3",
		"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1", "::ffff:10.1.2.3",
		"fc00::1", "fd12:3456::1", "fd00:ec2::254",
		"169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "fe80::a9fe:a9fe",
		"100.64.0.1", "100.100.100.200", "192.0.0.192", "168.63.129.16",
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::2",
		"255.255.255.255", "240.0.0.1", "198.18.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1",
		"2001::1", "2001:db8::1", "fec0::1",
	}
	public := []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1", "172.32.0.1", "100.128.0.1"}
	for _, s := range blocked {
		a := netip.MustParseAddr(s)
		var ae *addressError
		if err := checkPublic(a); !errors.As(err, &ae) {
			t.Errorf("checkPublic(%s) = %v, want refused", s, err)
		}
	}
	for _, s := range public {
		if err := checkPublic(netip.MustParseAddr(s)); err != nil {
			t.Errorf("checkPublic(%s) = %v, want allowed", s, err)
		}
	}
	if err := dialControl("tcp", "not-an-address", nil); err == nil {
		t.Error("dialControl accepted an unparsable address")
	}
	if err := dialControl("tcp6", "[::ffff:127.0.0.1]:443", nil); err == nil {
		t.Error("dialControl accepted a mapped loopback address")
	}
}

// TestHardenClient: the configured transport's TLS settings are kept, and
// a transport the address check cannot wrap is refused.
func TestHardenClient(t *testing.T) {
	t.Parallel()
	srv := newDocServer(t, nil)
	base := srv.Client()
	c, err := hardenClient(base, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Transport.(*http.Transport)
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil {
		t.Error("the TLS roots of the configured client were dropped")
	}
	if tr.Proxy != nil {
		t.Error("a proxy is configured: the dial check would see the proxy's address")
	}
	if base.Transport.(*http.Transport) == tr {
		t.Error("the caller's transport was modified instead of copied")
	}
	if _, err := New(Options{HTTPClient: &http.Client{Transport: roundTripper(nil)}}); !errors.Is(err, errUnsafeTransport) {
		t.Errorf("New with a custom RoundTripper = %v, want errUnsafeTransport", err)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
