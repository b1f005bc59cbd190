// Command healthprobe is the container image's HEALTHCHECK. The image is
// distroless (no shell, no curl, no wget) and the portcullis binary has
// no HTTP client subcommand, so this static helper does the one thing a
// health check needs: GET a URL and report the answer.
//
//	healthprobe [URL]
//
// The default URL is the gateway's readiness endpoint on the image's
// default port, http://127.0.0.1:8080/.portcullis/readyz. The probe
// exits 0 on a 2xx answer and 1 on anything else (another status, a
// refused connection, no answer within the timeout), which is what
// Docker's HEALTHCHECK expects. It follows no redirects and sends no
// credentials.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// defaultURL is the readiness endpoint on the image's default port.
const defaultURL = "http://127.0.0.1:8080/.portcullis/readyz"

// timeout bounds the whole probe; Docker's own --timeout should be
// longer so that this message, not Docker's, explains a failure.
const timeout = 2 * time.Second

func main() {
	url := defaultURL
	switch len(os.Args) {
	case 1:
	case 2:
		url = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: healthprobe [URL]")
		os.Exit(2)
	}
	if err := probe(url); err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
	fmt.Println("healthy:", url)
}

// probe GETs url and returns an error unless the answer is 2xx.
func probe(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "portcullis-healthprobe")
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		// No proxy: the probe talks to the container's own loopback.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
