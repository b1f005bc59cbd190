package credential

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	t.Parallel()
	e := Extractor{APIKeyHeader: "X-API-Key", APIKeyPrefix: "pcl", MaxLength: 64}
	tests := []struct {
		name    string
		headers [][2]string
		want    Credential
		err     error
	}{
		{name: "none", want: Credential{}},
		{name: "basic is not ours", headers: [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}}, want: Credential{}},
		{name: "bearer api key", headers: [][2]string{{"Authorization", "Bearer pcl_abc"}}, want: Credential{Kind: APIKey, Value: "pcl_abc", Header: "Authorization"}},
		{name: "scheme case-insensitive", headers: [][2]string{{"Authorization", "bEaReR pcl_abc"}}, want: Credential{Kind: APIKey, Value: "pcl_abc", Header: "Authorization"}},
		{name: "bearer jwt", headers: [][2]string{{"Authorization", "Bearer eyJ.x.y"}}, want: Credential{Kind: Bearer, Value: "eyJ.x.y", Header: "Authorization"}},
		{name: "prefix without separator is not a key", headers: [][2]string{{"Authorization", "Bearer pclx"}}, want: Credential{Kind: Bearer, Value: "pclx", Header: "Authorization"}},
		{name: "api key header", headers: [][2]string{{"X-Api-Key", "pcl_abc"}}, want: Credential{Kind: APIKey, Value: "pcl_abc", Header: "X-API-Key"}},
		{name: "empty bearer", headers: [][2]string{{"Authorization", "Bearer "}}, err: ErrMalformed},
		{name: "bearer with spaces", headers: [][2]string{{"Authorization", "Bearer a b"}}, err: ErrMalformed},
		{name: "two methods", headers: [][2]string{{"Authorization", "Bearer pcl_a"}, {"X-API-Key", "pcl_b"}}, err: ErrMultiple},
		{name: "two authorization headers", headers: [][2]string{{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}}, err: ErrMultiple},
		{name: "too long", headers: [][2]string{{"Authorization", "Bearer " + strings.Repeat("a", 65)}}, err: ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			for _, h := range tt.headers {
				r.Header.Add(h[0], h[1])
			}
			got, err := e.Extract(r)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Extract = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestQueryStringIsIgnored(t *testing.T) {
	t.Parallel()
	e := Extractor{APIKeyHeader: "X-API-Key", APIKeyPrefix: "pcl", MaxLength: 64}
	r, _ := http.NewRequest(http.MethodGet, "http://x/?access_token=pcl_abc&api_key=pcl_abc", nil)
	if got, err := e.Extract(r); err != nil || got.Kind != None {
		t.Fatalf("Extract = %+v, %v; want no credential", got, err)
	}
}
