package apikey

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	s := k.String()
	if !strings.HasPrefix(s, "pcl_"+k.ID+"_") || len(s) != 4+IDLength+1+SecretLength+ChecksumLength {
		t.Fatalf("unexpected key shape %q", s)
	}
	got, err := Parse("pcl", s)
	if err != nil {
		t.Fatalf("Parse(own key): %v", err)
	}
	if got != k {
		t.Fatalf("Parse = %+v, want %+v", got, k)
	}
	other, _ := Generate("pcl")
	if other.ID == k.ID || other.Secret == k.Secret {
		t.Fatal("two generated keys share an id or a secret")
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	k, _ := Generate("pcl")
	good := k.String()
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "other prefix", in: "xyz" + good[3:]},
		{name: "truncated", in: good[:len(good)-1]},
		{name: "extra char", in: good + "a"},
		{name: "typo in secret", in: flip(good, 20)},
		{name: "typo in id", in: flip(good, 5)},
		{name: "typo in checksum", in: flip(good, len(good)-1)},
		{name: "non base62", in: good[:10] + "-" + good[11:]},
		{name: "missing separator", in: good[:16] + "x" + good[17:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Parse("pcl", tt.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"pcl", "acme2", "ab"} {
		if err := ValidatePrefix(ok); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "PCL", "p_l", "1ab", "abcdefghijklmnopq"} {
		if err := ValidatePrefix(bad); err == nil {
			t.Errorf("ValidatePrefix(%q) accepted", bad)
		}
	}
}

func TestHasherAlgorithms(t *testing.T) {
	t.Parallel()
	plain, peppered := NewHasher(nil), NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))
	const key = "pcl_000000000000_x"
	if !strings.HasPrefix(plain.Hash(key), "sha256:") || !strings.HasPrefix(peppered.Hash(key), "hmac-sha256:") {
		t.Fatalf("unexpected algorithms: %s %s", plain.Hash(key), peppered.Hash(key))
	}
	if _, err := peppered.ParseDigest(plain.Hash(key)); err == nil {
		t.Fatal("peppered hasher accepted a plain sha256 hash")
	}
	for _, bad := range []string{"", "sha256", "md5:abc", "sha256:!!!", "sha256:YWJj"} {
		if _, err := plain.ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
	d, err := peppered.ParseDigest(peppered.Hash(key))
	if err != nil {
		t.Fatal(err)
	}
	if !peppered.Matches(d, key) || peppered.Matches(d, key+"x") {
		t.Fatal("Matches is wrong")
	}
	if NewHasher([]byte("another-pepper-another-pepper-12")).Hash(key) == peppered.Hash(key) {
		t.Fatal("the pepper does not change the hash")
	}
}

func TestSetVerify(t *testing.T) {
	t.Parallel()
	h := NewHasher(nil)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	good, expired, revoked, unknown := mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	set, err := NewSet("pcl", h, []Record{
		{ID: good.ID, Hash: h.Hash(good.String()), Subject: "ci-bot", Scopes: []string{"orders:read"}, Expires: now.Add(time.Hour)},
		{ID: expired.ID, Hash: h.Hash(expired.String()), Subject: "old", Expires: now},
		{ID: revoked.ID, Hash: h.Hash(revoked.String()), Subject: "gone", Revoked: true},
	}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret := Key{Prefix: "pcl", ID: good.ID, Secret: unknown.Secret}
	tests := []struct {
		name    string
		key     string
		want    error
		subject string
	}{
		{name: "good", key: good.String(), subject: "ci-bot"},
		{name: "expired at the instant", key: expired.String(), want: ErrExpired},
		{name: "revoked", key: revoked.String(), want: ErrRevoked},
		{name: "unknown id", key: unknown.String(), want: ErrUnknown},
		{name: "right id wrong secret", key: wrongSecret.String(), want: ErrUnknown},
		{name: "garbage", key: "pcl_nope", want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := set.Verify(tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if err == nil && rec.Subject != tt.subject {
				t.Fatalf("subject = %q, want %q", rec.Subject, tt.subject)
			}
			if err != nil && strings.Contains(err.Error(), tt.key) {
				t.Fatal("error text contains the key")
			}
		})
	}
}

func TestNewSetRejects(t *testing.T) {
	t.Parallel()
	h := NewHasher(nil)
	k := mustKey(t)
	rec := Record{ID: k.ID, Hash: h.Hash(k.String()), Subject: "s"}
	tests := []struct {
		name string
		recs []Record
		want string
	}{
		{name: "duplicate", recs: []Record{rec, rec}, want: "duplicate key id"},
		{name: "bad id", recs: []Record{{ID: "short", Hash: rec.Hash, Subject: "s"}}, want: "base62"},
		{name: "no subject", recs: []Record{{ID: k.ID, Hash: rec.Hash}}, want: "no subject"},
		{name: "bad hash", recs: []Record{{ID: k.ID, Hash: "sha256:xx", Subject: "s"}}, want: "digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSet("pcl", h, tt.recs, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSet error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func mustKey(t *testing.T) Key {
	t.Helper()
	k, err := Generate("pcl")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func BenchmarkSetVerify(b *testing.B) {
	h := NewHasher([]byte("pepper-pepper-pepper-pepper-1234"))
	k, _ := Generate("pcl")
	set, err := NewSet("pcl", h, []Record{{ID: k.ID, Hash: h.Hash(k.String()), Subject: "bench"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	key := k.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}
