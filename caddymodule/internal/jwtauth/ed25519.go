package jwtauth

import (
	"crypto/ed25519"
	"errors"
	"strings"
)

// errNotCompact marks an Ed25519 token whose signature part does not
// decode to an Ed25519 signature (reported as malformed, as go-jose's
// parse errors are).
var errNotCompact = errors.New("signature is not a base64url Ed25519 signature")

// verifyEd25519 checks a token signed with alg "Ed25519" (RFC 9864 §2.2:
// EdDSA with the Ed25519 curve, under its fully-specified name), which
// go-jose does not parse. The signing input is the compact JWS up to its
// last dot, exactly as sent (RFC 7515 §5.2); the signature is the
// strictly decoded third part. key must be an Ed25519 public key.
func (sc *sigCheck) verifyEd25519(key any) bool {
	pub, ok := key.(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return false
	}
	dot := strings.LastIndexByte(sc.token, '.')
	if dot < 0 {
		sc.parseErr = errNotCompact
		return false
	}
	sig, err := b64.DecodeString(sc.token[dot+1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		sc.parseErr = errNotCompact
		return false
	}
	return ed25519.Verify(pub, []byte(sc.token[:dot]), sig)
}
