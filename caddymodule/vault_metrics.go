package caddymodule

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/portcullis-auth/portcullis/caddymodule/internal/audit"
	"github.com/portcullis-auth/portcullis/caddymodule/internal/vault"
)

// Audit event kinds of the credential vault. Events carry the provider
// in the `upstream` field, never a token.
const (
	kindVaultConnect       audit.Kind = "upstream_connect"
	kindVaultConnectFailed audit.Kind = "upstream_connect_failed"
	kindVaultDisconnect    audit.Kind = "upstream_disconnect"
	kindVaultRefresh       audit.Kind = "upstream_refresh"
	kindVaultRefreshFailed audit.Kind = "upstream_refresh_failed"
	kindVaultInject        audit.Kind = "upstream_inject"
	kindVaultMissing       audit.Kind = "upstream_missing"
)

// newVaultCounter is portcullis_upstream_total: the vault's events by
// provider (a configured name), event (connect, disconnect, refresh,
// revoke, inject) and result (ok, error, or why an injection could not
// happen).
func newVaultCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "upstream_total",
		Help: "Credential vault events by upstream provider, event (connect, disconnect, refresh, revoke, inject) and result.",
	}, []string{"upstream", "event", "result"})
}

// countVault counts a vault event.
func (a *App) countVault(upstream, event, result string) {
	if a.metrics != nil && a.metrics.vault != nil {
		a.metrics.vault.WithLabelValues(upstream, event, result).Inc()
	}
}

// vaultStoreError counts a failed store call of the vault.
func (a *App) vaultStoreError() {
	if a.metrics != nil {
		a.metrics.storeErrors.WithLabelValues("vault").Inc()
	}
}

// emitVault writes a vault audit event (always: they are security
// events) with the provider in the `upstream` field.
func (a *App) emitVault(e audit.Event, upstream string) {
	a.emitVaultSampled(e, upstream, audit.AllowAll)
}

// emitVaultSampled writes a vault audit event if s keeps it.
func (a *App) emitVaultSampled(e audit.Event, upstream string, s audit.Sampler) {
	if !s.Keep(e.Kind, e.Result) {
		return
	}
	c := a.audit.Check(zap.InfoLevel, string(e.Kind))
	if c == nil {
		return
	}
	f := eventFields(e)
	c.Write(zap.Inline(&f), zap.String("upstream", upstream))
}

// vaultRefreshed records a refresh attempt of a user's upstream token
// (from the vault, on whichever request needed it).
func (a *App) vaultRefreshed(subject, upstream string, err error) {
	ev := audit.Event{Kind: kindVaultRefresh, Result: audit.Allow, Subject: subject}
	result := "ok"
	if err != nil {
		ev.Kind, ev.Result, ev.Reason, result = kindVaultRefreshFailed, audit.Deny, "provider_unavailable", "error"
		if errors.Is(err, vault.ErrInvalidGrant) {
			ev.Reason = "refresh_refused"
		}
	}
	a.countVault(upstream, "refresh", result)
	a.emitVault(ev, upstream)
}
