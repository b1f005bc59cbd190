package vault

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/store"
)

// Flow is a connect flow in progress: the authorization request sent to
// the provider, remembered under its state until the callback.
type Flow struct {
	// Provider is the provider being connected.
	Provider string `json:"prov"`
	// Subject is the user connecting it.
	Subject string `json:"sub"`
	// SessionHash identifies the browser session that started the flow;
	// only that session may complete it.
	SessionHash string `json:"sh"`
	// Verifier is the PKCE code verifier (RFC 7636). Secret.
	Verifier string `json:"ver"`
	// ReturnTo is where the browser goes after the callback (a path on
	// this origin, checked by the caller).
	ReturnTo string `json:"ret,omitempty"`
	// Started is when the flow began.
	Started time.Time `json:"at"`
}

// Challenge returns the PKCE S256 code challenge of f's verifier.
func (f *Flow) Challenge() string {
	sum := sha256.Sum256([]byte(f.Verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameSession reports, in constant time, whether sessionHash is the
// session that started f.
func (f *Flow) SameSession(sessionHash string) bool {
	return f.SessionHash != "" && subtle.ConstantTimeCompare([]byte(f.SessionHash), []byte(sessionHash)) == 1
}

// flowKey returns the store key of the flow with state.
func (v *Vault) flowKey(state string) string {
	return store.Key(v.prefix, kindFlow, hashString("vault state", state))
}

// Begin starts a connect flow for f (its Verifier and Started are set
// here) and returns its state, 256 random bits, to send as the OAuth
// state parameter. The flow is kept for FlowTTL and used once.
func (v *Vault) Begin(ctx context.Context, f Flow) (state string, flow Flow, err error) {
	if f.Provider == "" || f.Subject == "" || f.SessionHash == "" {
		return "", Flow{}, errors.New("vault: a connect flow needs a provider, a subject and a session")
	}
	state = randomToken()
	f.Verifier, f.Started = randomToken(), v.now()
	pt, err := json.Marshal(f)
	if err != nil {
		return "", Flow{}, fmt.Errorf("vault: encoding connect flow: %w", err)
	}
	key := v.flowKey(state)
	if err := v.st.Set(ctx, key, v.sealer.seal(pt, key), v.flowTTL); err != nil {
		return "", Flow{}, unavailable("storing connect flow", err)
	}
	return state, f, nil
}

// Complete takes the flow started with state (once: a second call, or
// one after FlowTTL, gets ErrFlowNotFound).
func (v *Vault) Complete(ctx context.Context, state string) (Flow, error) {
	if state == "" || len(state) > 128 {
		return Flow{}, ErrFlowNotFound
	}
	key := v.flowKey(state)
	raw, err := v.st.GetDel(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return Flow{}, ErrFlowNotFound
	}
	if err != nil {
		return Flow{}, unavailable("reading connect flow", err)
	}
	pt, err := v.sealer.open(raw, key)
	if err != nil {
		return Flow{}, ErrFlowNotFound
	}
	var f Flow
	if err := json.Unmarshal(pt, &f); err != nil || f.Provider == "" || f.Verifier == "" {
		return Flow{}, ErrFlowNotFound
	}
	if v.now().Sub(f.Started) > v.flowTTL {
		return Flow{}, ErrFlowNotFound
	}
	return f, nil
}
