package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verifyStandardWebhook is an independent verifier written from the
// Standard Webhooks specification: the signed content is
// `msg_id.timestamp.payload`, the signature header lists `v1,<base64>`
// entries separated by spaces, and a timestamp more than tolerance away
// from now is refused.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		var err error
		if key, err = base64.StdEncoding.DecodeString(secret[len("whsec_"):]); err != nil {
			return err
		}
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing headers")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside tolerance")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

func TestSignVerifiesIndependently(t *testing.T) {
	t.Parallel()
	plain := "a-plain-secret-of-32-bytes-long!"
	std := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, 24 bytes +++"))
	at := time.Unix(1_800_000_000, 0)
	body := []byte(`[{"specversion":"1.0"}]`)
	var keys [][]byte
	for _, s := range []string{plain, std} {
		k, err := ParseSecret(s)
		if err != nil {
			t.Fatalf("ParseSecret(%q): %v", s, err)
		}
		keys = append(keys, k)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, Sign(keys, "msg_1", at, body))
	tests := []struct {
		name   string
		secret string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{name: "plain secret", secret: plain, body: body, now: at, ok: true},
		{name: "whsec secret (rotation: second signature)", secret: std, body: body, now: at.Add(time.Minute), ok: true},
		{name: "other secret", secret: "not-the-secret-but-as-long-as-it", body: body, now: at},
		{name: "body changed", secret: plain, body: []byte(`[{"specversion":"1.1"}]`), now: at},
		{name: "replayed later", secret: plain, body: body, now: at.Add(10 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verifyStandardWebhook(tt.secret, h, tt.body, tt.now, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Fatalf("verify = %v, want ok %v", err, tt.ok)
			}
		})
	}
	// The timestamp is part of what is signed: moving it breaks the MAC.
	moved := h.Clone()
	moved.Set(HeaderTimestamp, strconv.FormatInt(at.Unix()+1, 10))
	if err := verifyStandardWebhook(plain, moved, body, at, 5*time.Minute); err == nil {
		t.Fatal("a changed timestamp still verifies")
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"short", "whsec_!!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		} else if strings.Contains(err.Error(), bad) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}
