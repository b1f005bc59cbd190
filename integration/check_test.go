package integration_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/integration/oidcprovider"
)

func TestCheckScratch(t *testing.T) {
	idp := oidcprovider.Start(t)
	idp.AddClient(oidcprovider.Client{ID: "gw", Secret: "sec", RedirectURIs: []string{"http://127.0.0.1:9/.portcullis/callback"}})
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	show := func(name string, resp *http.Response, err error) {
		if err != nil {
			fmt.Println(name, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		fmt.Printf("== %s: %d loc=%q ct=%q\n%.600s\n", name, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"), b)
	}
	resp, err := c.Get(idp.DiscoveryURL())
	show("disc", resp, err)
	resp, err = c.Get(idp.JWKSURL())
	show("jwks", resp, err)
	tok := func(name, id, sec, redir string) {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {"abcdefinvalid"}, "redirect_uri": {redir}, "code_verifier": {strings.Repeat("a", 43)}}
		req, _ := http.NewRequest("POST", idp.TokenURL(), strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, sec)
		resp, err := c.Do(req)
		show(name, resp, err)
	}
	tok("tok ok", "gw", "sec", "http://127.0.0.1:9/.portcullis/callback")
	tok("tok badsecret", "gw", "nope", "http://127.0.0.1:9/.portcullis/callback")
	tok("tok badid", "nobody", "sec", "http://127.0.0.1:9/.portcullis/callback")
	tok("tok badredir", "gw", "sec", "http://127.0.0.1:9/other")
	auth := func(name, id, redir string) {
		q := url.Values{"client_id": {id}, "redirect_uri": {redir}, "response_type": {"code"}, "scope": {"openid"}, "state": {"xyzxyzxyz"}, "code_challenge": {"E9Melhoe2OwvFrEMTJguCQFfTkZPN2ZDDVWbzH-rSEM"}, "code_challenge_method": {"S256"}, "nonce": {"nnnnnnnnn"}}
		resp, err := c.Get(idp.AuthorizationURL() + "?" + q.Encode())
		show(name, resp, err)
	}
	auth("auth ok", "gw", "http://127.0.0.1:9/.portcullis/callback")
	auth("auth badid", "nobody", "http://127.0.0.1:9/.portcullis/callback")
	auth("auth badredir", "gw", "http://127.0.0.1:9/other")
}
