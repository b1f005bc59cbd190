package jwtauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
)

// BenchmarkRSAFloor is the floor under a full RS256 verification: the
// SHA-256 of a typical token's signing input and one RSA-2048 PKCS#1
// v1.5 signature check, with nothing else. BenchmarkVerifyCacheMiss/RS256
// minus this is what parsing and the claims checks add; loadbench's
// jwt-unique row is compared with it.
func BenchmarkRSAFloor(b *testing.B) {
	k := newRSAKey(b, "rs", "RS256", 0)
	input := []byte(strings.Repeat("e", 40) + "." + strings.Repeat("p", 600))
	sum := sha256.Sum256(input)
	sig, err := k.key.Sign(nil, sum[:], crypto.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	pub := k.key.Public().(*rsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
