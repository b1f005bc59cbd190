package request

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMethod(t *testing.T) {
	t.Parallel()
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name     string
		method   string
		target   string
		headers  http.Header
		body     string
		allow    bool
		want     string
		wantErr  bool
		leftover bool // override headers still present
	}{
		{name: "stripped by default", method: "POST", headers: http.Header{"X-Http-Method-Override": {"DELETE"}}, want: "POST"},
		{name: "underscore variant stripped", method: "POST", headers: http.Header{"X_http_method_override": {"DELETE"}, "X-Method-Override": {"PUT"}}, want: "POST"},
		{name: "x-http-method stripped", method: "POST", headers: http.Header{"X-Http-Method": {"DELETE"}}, want: "POST"},
		{name: "allowed override", method: "POST", headers: http.Header{"X-Http-Method-Override": {"DELETE"}}, allow: true, want: "DELETE", leftover: true},
		{name: "allowed override underscore", method: "POST", headers: http.Header{"X_HTTP_METHOD_OVERRIDE": {"DELETE"}}, allow: true, want: "DELETE", leftover: true},
		{name: "allowed disagreeing", method: "POST", headers: http.Header{"X-Http-Method-Override": {"DELETE"}, "X-Method-Override": {"PUT"}}, allow: true, wantErr: true},
		{name: "allowed two values", method: "POST", headers: http.Header{"X-Http-Method-Override": {"DELETE", "GET"}}, allow: true, wantErr: true},
		{name: "allowed lower case", method: "POST", headers: http.Header{"X-Http-Method-Override": {"delete"}}, allow: true, wantErr: true},
		{name: "allowed on GET is stripped", method: "GET", headers: http.Header{"X-Http-Method-Override": {"DELETE"}}, allow: true, want: "GET"},
		{name: "allowed none", method: "POST", allow: true, want: "POST"},
		{name: "query param refused", method: "POST", target: "/orders/1?_method=DELETE", wantErr: true},
		{name: "query param escaped key", method: "POST", target: "/orders/1?%5Fmethod=DELETE", wantErr: true},
		{name: "query param semicolon", method: "POST", target: "/orders/1?a=1;_method=DELETE", wantErr: true},
		{name: "query param case", method: "POST", target: "/orders/1?_METHOD=DELETE", wantErr: true},
		{name: "query param on GET refused", method: "GET", target: "/orders/1?_method=DELETE", wantErr: true},
		{name: "query other param", method: "POST", target: "/orders/1?payment_method=card&x_method_y=1", want: "POST"},
		{name: "form param refused", method: "POST", headers: http.Header{"Content-Type": {form}}, body: "a=1&_method=DELETE", wantErr: true},
		{name: "form without param", method: "POST", headers: http.Header{"Content-Type": {form + "; charset=utf-8"}}, body: "a=1&method=x", want: "POST"},
		{name: "json body ignored", method: "POST", headers: http.Header{"Content-Type": {"application/json"}}, body: `{"_method":"DELETE"}`, want: "POST"},
		{name: "allowed query param", method: "POST", target: "/orders/1?_method=DELETE", allow: true, want: "DELETE"},
		{name: "allowed form param", method: "POST", headers: http.Header{"Content-Type": {form}}, body: "_method=PATCH", allow: true, want: "PATCH"},
		{name: "allowed param and header disagree", method: "POST", target: "/x?_method=DELETE", headers: http.Header{"X-Http-Method-Override": {"PUT"}}, allow: true, wantErr: true},
		{name: "allowed param garbage", method: "POST", target: "/x?_method=DELETE%20X", allow: true, wantErr: true},
		{name: "allowed param on GET", method: "GET", target: "/x?_method=DELETE", allow: true, want: "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := tt.target
			if target == "" {
				target = "/orders"
			}
			r := httptest.NewRequest(tt.method, target, strings.NewReader(tt.body))
			if tt.body == "" {
				r.Body = http.NoBody
			}
			for k, v := range tt.headers {
				r.Header[k] = v
			}
			got, err := Method(r, tt.allow)
			if tt.wantErr {
				if !errors.Is(err, ErrMethodOverride) {
					t.Fatalf("err = %v, want ErrMethodOverride", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Method = %q, %v; want %q", got, err, tt.want)
			}
			left := false
			for k := range r.Header {
				left = left || isOverride(k)
			}
			if left != tt.leftover {
				t.Errorf("override headers left = %v, want %v (%v)", left, tt.leftover, r.Header)
			}
			if b, _ := io.ReadAll(r.Body); string(b) != tt.body {
				t.Errorf("body after Method = %q, want it intact %q", b, tt.body)
			}
		})
	}
}

func TestMethodFormTooLarge(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(strings.Repeat("a", MaxFormBody+1)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := Method(r, false); !errors.Is(err, ErrMethodOverride) {
		t.Fatalf("err = %v, want ErrMethodOverride", err)
	}
}
