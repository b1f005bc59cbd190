package apikey

import (
	"context"
	"testing"
)

// BenchmarkParse measures splitting and checking a well-formed key.
func BenchmarkParse(b *testing.B) {
	k, _ := Generate("pcl")
	key := k.String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("pcl", key); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStaticRegistry returns a registry holding one static key, as the
// adapter builds it for keys declared in the configuration, and the key.
func benchStaticRegistry(b *testing.B, pepper []byte) (*Registry, string) {
	b.Helper()
	h := NewHasher(pepper)
	k, _ := Generate("pcl")
	set, err := NewSet("pcl", h, []Record{{ID: k.ID, Hash: h.Hash(k.String()), Subject: "bench", Scopes: []string{"orders:read"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRegistry(RegistryOptions{Static: set, Hasher: h, Prefix: "pcl"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, k.String()
}

// BenchmarkRegistryVerifyStatic measures a repeated static key, as
// BenchmarkHandlerAPIKey presents it (no pepper).
func BenchmarkRegistryVerifyStatic(b *testing.B) {
	r, key := benchStaticRegistry(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Verify(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegistryVerifyStaticWrongSecret measures a known id with a
// wrong secret (a well-formed key: its checksum is right).
func BenchmarkRegistryVerifyStaticWrongSecret(b *testing.B) {
	r, key := benchStaticRegistry(b, nil)
	k, err := Parse("pcl", key)
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte(k.Secret)
	if secret[0] == 'A' {
		secret[0] = 'B'
	} else {
		secret[0] = 'A'
	}
	wrong := Key{Prefix: "pcl", ID: k.ID, Secret: string(secret)}.String()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Verify(ctx, wrong); err == nil {
			b.Fatal("wrong secret accepted")
		}
	}
}
