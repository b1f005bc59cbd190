package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"math/big"

	// Register the hashes crypto.Hash.New uses below.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// newSigCheck returns the signature check of token, parsed as t.
func newSigCheck(token string, t *parsedToken) *sigCheck {
	sc := &sigCheck{token: token, alg: t.header.alg, payload: t.payload}
	if t.plain {
		sc.plain, sc.sig, sc.signed = true, t.sig, t.signed
	}
	return sc
}

// verifyPlain checks the signature of a plain token (see parsePlain) the
// way go-jose v4's JSONWebSignature.Verify does, without parsing the
// token again: the same hash, the same crypto function and the same
// checks on the key and the signature, over the same signing input,
// which for a plain token is the token up to its last dot as sent. An
// algorithm it does not know is never verified.
func (sc *sigCheck) verifyPlain(key any) bool {
	if sc.input == nil {
		sc.input = []byte(sc.token[:sc.signed])
	}
	switch sc.alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		pub, ok := key.(*rsa.PublicKey)
		if !ok || pub == nil {
			return false
		}
		h := shaFor(sc.alg[2:])
		digest := hashOf(h, sc.input)
		if sc.alg[0] == 'R' {
			return rsa.VerifyPKCS1v15(pub, h, digest, sc.sig) == nil
		}
		return rsa.VerifyPSS(pub, h, digest, sc.sig, nil) == nil // nil: salt length auto, as go-jose
	case "ES256", "ES384", "ES512":
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || pub == nil {
			return false
		}
		curve, size := ecParams(sc.alg)
		if pub.Curve != curve || len(sc.sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sc.sig[:size])
		s := new(big.Int).SetBytes(sc.sig[size:])
		return ecdsa.Verify(pub, hashOf(shaFor(sc.alg[2:]), sc.input), r, s)
	case "EdDSA":
		pub, ok := key.(ed25519.PublicKey)
		if !ok || len(pub) != ed25519.PublicKeySize { // go-jose: non-empty; ed25519.Verify panics on another size
			return false
		}
		return ed25519.Verify(pub, sc.input, sc.sig)
	case "HS256", "HS384", "HS512":
		secret, ok := key.([]byte)
		h := shaFor(sc.alg[2:])
		if !ok || len(secret) < h.Size() { // go-jose: a key at least as long as the hash (RFC 7518 §3.2)
			return false
		}
		mac := hmac.New(h.New, secret)
		mac.Write(sc.input)
		want := mac.Sum(nil)
		return len(sc.sig) == len(want) && hmac.Equal(sc.sig, want)
	}
	return false
}

// shaFor returns the SHA-2 hash of an algorithm's size suffix ("256",
// "384" or "512").
func shaFor(bits string) crypto.Hash {
	switch bits {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	}
	return crypto.SHA256
}

// hashOf returns the digest of data under h.
func hashOf(h crypto.Hash, data []byte) []byte {
	w := h.New()
	w.Write(data)
	return w.Sum(nil)
}

// ecParams returns the curve and the size in bytes of r and s for an
// ES* algorithm (RFC 7518 §3.4).
func ecParams(alg string) (elliptic.Curve, int) {
	switch alg {
	case "ES384":
		return elliptic.P384(), 48
	case "ES512":
		return elliptic.P521(), 66
	}
	return elliptic.P256(), 32
}
