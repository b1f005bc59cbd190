package oidcprovider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// The op package builds the discovery document from its Config, which has
// no field for RFC 9207's authorization_response_iss_parameter_supported,
// for claims_parameter_supported or for leaving the revocation endpoint
// out. The provider edits the document the op package serves.

// discoveryEdits returns the edit cfg needs on the discovery document, or
// nil when the op package's document is served untouched.
func discoveryEdits(cfg Config) func(map[string]json.RawMessage) {
	if cfg.Profile != Strict && !cfg.NoRevocation {
		return nil
	}
	return func(doc map[string]json.RawMessage) {
		if cfg.Profile == Strict {
			doc["authorization_response_iss_parameter_supported"] = json.RawMessage("true")
			doc["claims_parameter_supported"] = json.RawMessage("true")
		}
		if cfg.NoRevocation {
			delete(doc, "revocation_endpoint")
			delete(doc, "revocation_endpoint_auth_methods_supported")
			delete(doc, "revocation_endpoint_auth_signing_alg_values_supported")
		}
	}
}

// withDiscoveryEdit serves next's discovery document after applying edit.
func withDiscoveryEdit(edit func(map[string]json.RawMessage), next http.Handler, logf func(string, ...any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		body := rec.body.Bytes()
		if rec.status == http.StatusOK {
			edited, err := editJSON(body, edit)
			if err != nil {
				if logf != nil {
					logf("oidcprovider: editing discovery document: %v", err)
				}
				http.Error(w, "editing discovery document", http.StatusInternalServerError)
				return
			}
			body = edited
		}
		rec.writeTo(w, body)
	})
}

// editJSON applies edit to a JSON object.
func editJSON(body []byte, edit func(map[string]json.RawMessage)) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding JSON object: %w", err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON object: %w", err)
	}
	return out, nil
}

// writeTo sends the captured response to w with body instead of the
// captured one.
func (b *bufferedResponse) writeTo(w http.ResponseWriter, body []byte) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(b.status)
	_, _ = w.Write(body)
}
