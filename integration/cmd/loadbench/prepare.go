package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
)

// prepare starts the upstream, the identity provider, the JWT issuer and
// Redis, and makes the credentials the scenarios use.
func prepare(bin, dir string, tokens int) (*benchEnv, func(), error) {
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	env := &benchEnv{cookies: map[string]string{}}
	port, err := freePort()
	if err != nil {
		return nil, cleanup, err
	}
	up, err := start(dir, "upstream", fmt.Sprintf("{\n\t%s\n}\n\nhttp://127.0.0.1:%d {\n\trespond \"ok\" 200\n}\n", global(), port), port, direct(bin))
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, up.stop)
	env.upstream = port

	out, err := exec.Command(bin, "apikey", "new", "--subject", "bench", "--scopes", "bench:read").CombinedOutput()
	if err != nil {
		return nil, cleanup, fmt.Errorf("apikey new: %w\n%s", err, out)
	}
	env.apiKey = regexp.MustCompile(`(?m)^pcl_\S+$`).FindString(string(out))
	_, block, _ := strings.Cut(string(out), "# Paste into the api_keys block:\n")
	env.apiKeyConf = strings.ReplaceAll(strings.TrimSpace(block), "\n", "\n\t\t\t")
	if env.apiKey == "" || env.apiKeyConf == "" {
		return nil, cleanup, fmt.Errorf("unexpected apikey output:\n%s", out)
	}
	if env.apiKeyID, err = apiKeyID(env.apiKey); err != nil {
		return nil, cleanup, fmt.Errorf("apikey new: %w", err)
	}

	iss, err := newJWTIssuer()
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, iss.close)
	env.jwtIssuer = iss.url
	if env.jwtToken, err = iss.token(-1); err != nil {
		return nil, cleanup, err
	}
	if env.tokensFile, err = iss.tokensFile(dir, tokens); err != nil {
		return nil, cleanup, err
	}

	idp, err := startIdP()
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, func() { _ = idp.Close() })
	env.provider, env.idp = idp, idp.Issuer()

	redisURL, stopRedis, err := startRedis(dir)
	if err != nil {
		return nil, cleanup, err
	}
	stops = append(stops, stopRedis)
	env.redisURL = redisURL
	return env, cleanup, nil
}
