package oidcflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"golang.org/x/oauth2"
)

// ReservedAuthParams are the authorization request parameters the
// gateway sets itself (or must never send: a request object or another
// response mode would bypass what the callback checks); Config.AuthParams
// may not name them.
var ReservedAuthParams = []string{
	"response_type", "response_mode", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "claims", "max_age", "acr_values",
	"login_hint", "request", "request_uri", "registration", "resource",
}

// knownPrompts are the prompt values of OIDC Core §3.1.2.1 (plus
// "create", OpenID Connect Prompt Create 1.0).
var knownPrompts = []string{"none", "login", "consent", "select_account", "create"}

// authTimeRequest asks for auth_time in the ID token (OIDC Core §5.5.1).
var authTimeRequest = map[string]any{"auth_time": map[string]any{"essential": true}}

// loginParams are the authorization request parameters fixed by the
// configuration.
type loginParams struct {
	prompt        []string
	claims        map[string]any // the operator's claims request, nil if none
	extra         [][2]string    // AuthParams, sorted by name
	expectRefresh bool           // a refresh token was asked for
}

// authParams checks the configuration's authorization parameters.
func authParams(cfg Config) (loginParams, error) {
	var lp loginParams
	var errs []error
	for _, p := range cfg.Prompt {
		if !slices.Contains(knownPrompts, p) {
			errs = append(errs, fmt.Errorf("oidcflow: prompt %q is not one of %s", p, strings.Join(knownPrompts, ", ")))
		}
	}
	if slices.Contains(cfg.Prompt, "none") {
		errs = append(errs, errors.New("oidcflow: prompt none is refused: a login the user started cannot be silent"))
	}
	lp.prompt = slices.Clone(cfg.Prompt)
	offline := slices.Contains(cfg.Scopes, "offline_access")
	if len(lp.prompt) == 0 && offline {
		lp.prompt = []string{"consent"}
	}
	if cfg.ClaimsRequest != "" {
		if err := json.Unmarshal([]byte(cfg.ClaimsRequest), &lp.claims); err != nil || lp.claims == nil {
			errs = append(errs, errors.New("oidcflow: claims must be a JSON object such as {\"id_token\":{\"groups\":null}}"))
		}
		for k := range lp.claims {
			if k != "id_token" && k != "userinfo" {
				errs = append(errs, fmt.Errorf("oidcflow: claims member %q: only id_token and userinfo are defined (OIDC Core §5.5)", k))
			}
		}
	}
	for name, value := range cfg.AuthParams {
		switch {
		case name == "" || strings.ContainsAny(name, " \t\r\n&=#"):
			errs = append(errs, fmt.Errorf("oidcflow: authorization parameter name %q is not valid", name))
		case slices.Contains(ReservedAuthParams, strings.ToLower(name)):
			errs = append(errs, fmt.Errorf("oidcflow: authorization parameter %q is set by the gateway; use the oidc block's own setting", name))
		case strings.ContainsAny(value, "\r\n"):
			errs = append(errs, fmt.Errorf("oidcflow: authorization parameter %q has a line break", name))
		}
		lp.extra = append(lp.extra, [2]string{name, value})
	}
	sort.Slice(lp.extra, func(i, j int) bool { return lp.extra[i][0] < lp.extra[j][0] })
	lp.expectRefresh = offline || strings.EqualFold(cfg.AuthParams["access_type"], "offline")
	return lp, errors.Join(errs...)
}

// options returns the authorization request options of one login: the
// configured parameters, the prompt (with "login" for a forced login),
// and the claims request with auth_time when the provider supports it.
func (lp loginParams) options(meta *Metadata, forceLogin bool) ([]oauth2.AuthCodeOption, error) {
	var opts []oauth2.AuthCodeOption
	for _, kv := range lp.extra {
		opts = append(opts, oauth2.SetAuthURLParam(kv[0], kv[1]))
	}
	prompt := lp.prompt
	if forceLogin && !slices.Contains(prompt, "login") {
		prompt = append(slices.Clone(prompt), "login")
	}
	if len(prompt) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(prompt, " ")))
	}
	claims := lp.claims
	if meta.ClaimsParameterSupported {
		claims = withAuthTime(claims)
	}
	if claims != nil {
		b, err := json.Marshal(claims)
		if err != nil {
			return nil, fmt.Errorf("oidcflow: encoding the claims request: %w", err)
		}
		opts = append(opts, oauth2.SetAuthURLParam("claims", string(b)))
	}
	return opts, nil
}

// withAuthTime returns claims (not modified) with auth_time requested in
// the ID token, unless the operator already asked for it.
func withAuthTime(claims map[string]any) map[string]any {
	out := make(map[string]any, len(claims)+1)
	for k, v := range claims {
		out[k] = v
	}
	idt, _ := out["id_token"].(map[string]any)
	if _, asked := idt["auth_time"]; asked {
		return out
	}
	merged := make(map[string]any, len(idt)+1)
	for k, v := range idt {
		merged[k] = v
	}
	for k, v := range authTimeRequest {
		merged[k] = v
	}
	out["id_token"] = merged
	return out
}

// CheckLoginParameters reports what New would refuse in the
// authorization parameters of a configuration (Prompt, ClaimsRequest,
// AuthParams), for configuration validation without building a Client.
func CheckLoginParameters(cfg Config) error {
	_, err := authParams(cfg)
	return err
}
