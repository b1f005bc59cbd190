package oidcflow

import (
	"errors"
	"strings"
	"sync"
)

// Problem is a failure to reach or trust the provider, or a provider
// behaviour the operator must know about (no refresh token issued). The
// Client reports each once, when it starts or its cause changes, and
// once more when the component works again; a request that meets a
// known problem does not report it again.
type Problem struct {
	// Component is what failed: "discovery", "jwks", "token",
	// "id_token", "userinfo", "refresh_token" or "revocation".
	Component string
	// Reason is a Reason constant: ReasonMisconfigured (fix the
	// configuration), ReasonUnavailable (an outage) or a specific one
	// such as ReasonNoRefreshToken.
	Reason string
	// Cause says what happened, for a person; never a secret or token.
	Cause string
	// Resolved reports that Component works again after a problem.
	Resolved bool
}

// Components of Problem.
const (
	componentDiscovery    = "discovery"
	componentJWKS         = "jwks"
	componentToken        = "token"
	componentIDToken      = "id_token"
	componentUserInfo     = "userinfo"
	componentRefreshToken = "refresh_token"
	componentRevocation   = "revocation"
)

// problems remembers the last cause reported per component.
type problems struct {
	notify func(Problem)
	mu     sync.Mutex
	last   map[string]string
}

// report tells of err on component unless the same cause was the last
// one reported for it.
func (p *problems) report(component string, err error) {
	p.reportAs(component, Reason(err), rootCause(err))
}

// reportAs tells of a problem with an explicit reason and cause.
func (p *problems) reportAs(component, reason, cause string) {
	if p.notify == nil {
		return
	}
	p.mu.Lock()
	if p.last == nil {
		p.last = map[string]string{}
	}
	same := p.last[component] == reason+"\x00"+cause
	p.last[component] = reason + "\x00" + cause
	p.mu.Unlock()
	if !same {
		p.notify(Problem{Component: component, Reason: reason, Cause: cause})
	}
}

// resolved tells that component works again, if a problem was reported.
func (p *problems) resolved(component string) {
	if p.notify == nil {
		return
	}
	p.mu.Lock()
	_, had := p.last[component]
	delete(p.last, component)
	p.mu.Unlock()
	if had {
		p.notify(Problem{Component: component, Reason: "", Cause: component + " works again", Resolved: true})
	}
}

// rootCause returns err's text without the sentinel prefixes this
// package adds ("oidcflow: identity provider unavailable: …"), which the
// Reason already says.
func rootCause(err error) string {
	s := err.Error()
	for _, sentinel := range []error{ErrUserInfo, ErrMisconfigured, ErrUnavailable, ErrExchange, ErrIDToken} { // outermost first
		if errors.Is(err, sentinel) {
			if rest, ok := strings.CutPrefix(s, sentinel.Error()+": "); ok {
				s = rest
			}
		}
	}
	return oneLine(s, 500)
}
